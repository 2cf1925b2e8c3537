"""Stored timestamps read back as aware UTC, whatever the backend: SQLite gives them without a
zone (they were written in UTC), PostgreSQL in the session's time zone."""

from __future__ import annotations

from datetime import datetime, timezone


def as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
