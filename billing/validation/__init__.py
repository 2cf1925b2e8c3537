"""The daily account validation batch (issue 7, item 7): completeness, contract validity, rate
consistency and service configuration checks over the reference data as of a business day,
written to ``validation_result`` and the error log ``validation_error``."""

from billing.validation.batch import CHECKS, RULES, ValidationSummary, failed_by_severity, failures, validate_accounts

__all__ = ["CHECKS", "RULES", "ValidationSummary", "failed_by_severity", "failures", "validate_accounts"]
