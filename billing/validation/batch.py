"""The daily account validation (the seed's "Daily Account Validation" batch): every rule of
the four families run over the reference data as of a business day, its results in
``validation_result`` and each failing entity in ``validation_error``.

A day is validated whole in the caller's transaction: its rows are deleted and written again,
so a re-run replaces them (and, on the same data, writes the same rows).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, Date, case, delete, func, insert, literal, select

from billing.db.schema import validation_error, validation_result
from billing.tfm.pricing import ensure_effective_pricing
from billing.validation import accounts, contracts, rates, services
from billing.validation.rules import ERROR, Rule

RULES: tuple[Rule, ...] = accounts.RULES + contracts.RULES + rates.RULES + services.RULES
CHECKS: tuple[str, ...] = tuple(dict.fromkeys(rule.check for rule in RULES))
SAMPLE = 10


@dataclass(frozen=True)
class ValidationSummary:
    day: date
    results: list[dict]  # per rule: rule, check, entity_type, severity, checked, failed, outcome
    failures: list[dict]  # a sample of the error log: rule, severity, entity, message (errors first)

    @property
    def failed_by_severity(self) -> dict[str, int]:
        counts = Counter()
        for result in self.results:
            counts[result["severity"]] += result["failed"]
        return dict(counts)


def validate_accounts(conn: Connection, day: date) -> ValidationSummary:
    """Validate the reference data as of ``day``: one ``INSERT … SELECT`` per rule into the
    error log, one row per rule into the results; the day's earlier rows replaced."""
    ensure_effective_pricing(conn)  # rate rules see the accounts each assignment reaches now
    conn.execute(delete(validation_error).where(validation_error.c.business_dt == day))
    conn.execute(delete(validation_result).where(validation_result.c.business_dt == day))
    results = [_run(conn, rule, day) for rule in RULES]
    conn.execute(insert(validation_result), [
        {"business_dt": day, "rule_cd": r["rule"], "check_name": r["check"], "entity_type": r["entity_type"],
         "severity": r["severity"], "checked_count": r["checked"], "failed_count": r["failed"],
         "outcome": r["outcome"]} for r in results])
    return ValidationSummary(day, results, failures(conn, day))


def _run(conn: Connection, rule: Rule, day: date) -> dict:
    failing = rule.failures(day).subquery()
    failed = conn.execute(insert(validation_error).from_select(
        ["business_dt", "rule_cd", "entity_type", "severity", "entity_id", "message"],
        select(literal(day, Date), literal(rule.code), literal(rule.entity_type), literal(rule.severity),
               *failing.c))).rowcount
    return {"rule": rule.code, "check": rule.check, "entity_type": rule.entity_type, "severity": rule.severity,
            "checked": conn.execute(rule.checked(day)).scalar(), "failed": failed,
            "outcome": "FAILED" if failed else "PASSED"}


def failures(conn: Connection, day: date, check: str | None = None, limit: int = SAMPLE) -> list[dict]:
    """The first ``limit`` entries of the day's error log (of one rule family), errors first."""
    e = validation_error
    query = select(e.c.rule_cd, e.c.severity, e.c.entity_id, e.c.message).where(e.c.business_dt == day)
    if check is not None:
        query = query.where(e.c.rule_cd.in_([rule.code for rule in RULES if rule.check == check]))
    query = query.order_by(case((e.c.severity == ERROR, 0), else_=1), e.c.rule_cd, e.c.entity_id).limit(limit)
    return [{"rule": rule, "severity": severity, "entity": entity, "message": message}
            for rule, severity, entity, message in conn.execute(query)]


def failed_by_severity(conn: Connection, day: date, check: str) -> dict[str, int]:
    """``{severity: failing entities}`` of one rule family on the day, from the error log."""
    e = validation_error
    rows = conn.execute(select(e.c.severity, func.count()).where(
        e.c.business_dt == day, e.c.rule_cd.in_([rule.code for rule in RULES if rule.check == check]))
        .group_by(e.c.severity)).all()
    return dict(rows)
