"""Date arithmetic and number formatting in SQL, the same on PostgreSQL and SQLite.

The invoicing steps compute due dates and invoice numbers for many bills in one statement;
the two databases spell these differently, so each helper compiles per dialect.
"""

from __future__ import annotations

from sqlalchemy import Date, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class add_days(FunctionElement):
    """``date + days`` (days an integer expression, negative allowed)."""

    type = Date()
    name = "add_days"
    inherit_cache = True


@compiles(add_days)
def _add_days_postgresql(element, compiler, **kw):
    day, days = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(CAST({day} AS DATE) + CAST({days} AS INTEGER))"


@compiles(add_days, "sqlite")
def _add_days_sqlite(element, compiler, **kw):
    day, days = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"date({day}, CAST({days} AS TEXT) || ' days')"


class zero_padded(FunctionElement):
    """An integer as text, left-padded with zeros to ``width`` digits."""

    type = String()
    name = "zero_padded"
    inherit_cache = True


@compiles(zero_padded)
def _zero_padded_postgresql(element, compiler, **kw):
    number, width = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"LPAD(CAST({number} AS TEXT), {width}, '0')"


@compiles(zero_padded, "sqlite")
def _zero_padded_sqlite(element, compiler, **kw):
    number, width = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"printf('%0' || {width} || 'd', {number})"
