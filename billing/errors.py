"""Errors an operator sees: each names the feed, row or file and says what to do."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError


class BillingError(Exception):
    """A problem the operator can act on; the CLI prints it without a traceback."""


class ReferenceDataError(BillingError):
    """Reference data refused as a whole; ``problems`` lists file, line, column and reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"reference data refused, nothing was loaded ({len(problems)} problem(s)):\n{listing}\n"
            "Fix the files and run `billing reference load` again."
        )


class FeedRejected(BillingError):
    """A feed that cannot be read at all; its files go to quarantine with this reason."""


class DatabaseRefused(BillingError):
    """The database server answered and refused the connection — a wrong password, an unknown
    database or user, no ``pg_hba.conf`` entry: the URL or the server's set-up needs fixing;
    waiting changes nothing."""


class DatabaseUnavailable(SQLAlchemyError):
    """The PostgreSQL server went away under a statement, or cannot be reached at all (a
    restart, a crash, the network). Not a refusal: a job's retry policy retries the step, and
    it succeeds once the server answers again. (An ``SQLAlchemyError``, so that code handling
    database errors handles this one too.)"""
