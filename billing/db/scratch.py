"""Scratch tables: per-transaction working sets that live only inside one step's transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Column, Connection, Constraint, Index, MetaData, Table


@contextmanager
def scratch_table(conn: Connection, name: str, *columns: Column | Constraint | Index) -> Iterator[Table]:
    """A ``TEMPORARY`` table (its columns, constraints and indexes), dropped when the step
    succeeds (a rollback drops it anyway)."""
    table = Table(name, MetaData(), *columns, prefixes=["TEMPORARY"])
    table.create(conn)
    yield table
    table.drop(conn)
