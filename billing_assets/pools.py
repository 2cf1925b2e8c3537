"""Concurrency pools (instance-wide, enforced by Dagster per step).

``billing_charges``: the steps that create, recompute, cancel or bill billable charges. They
already serialise in the database on the charge-id counter's row lock; the pool makes the
wait visible in the UI ("waiting for a pool slot") and keeps it out of the database, where it
would count against the statement timeout. The production instance limits every pool to one
step at a time (deploy/dagster.yaml: ``concurrency.pools.default_limit``); an instance
without that setting does not limit them.
"""

CHARGES_POOL = "billing_charges"
