"""What `billing demo` runs on: the sample reference data's ids (:mod:`billing.demo.catalog`)
and a generator of realistic transaction feeds with every kind of problem
(:mod:`billing.demo.feeds`)."""

from billing.demo.catalog import SAMPLE_REFERENCE_DIR, TRAPS
from billing.demo.feeds import BAD_KINDS, EXPECTED_STATUS, generate_rows, write_feed

__all__ = ["BAD_KINDS", "EXPECTED_STATUS", "SAMPLE_REFERENCE_DIR", "TRAPS", "generate_rows", "write_feed"]
