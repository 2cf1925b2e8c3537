"""Date arithmetic and number formatting in SQL, the same on PostgreSQL and SQLite.

The invoicing steps compute due dates and invoice numbers for many bills in one statement;
the two databases spell these differently, so each helper compiles per dialect from a
template of its arguments.
"""

from __future__ import annotations

from sqlalchemy import Date, String, types
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


def _dialect_function(name: str, result: types.TypeEngine, postgresql: str, sqlite: str, doc: str):
    cls = type(name, (FunctionElement,), {"name": name, "type": result, "inherit_cache": True, "__doc__": doc})

    def template(text):
        def compile_(element, compiler, **kw):
            return text.format(*(compiler.process(arg, **kw) for arg in element.clauses))
        return compile_

    compiles(cls)(template(postgresql))
    compiles(cls, "sqlite")(template(sqlite))
    return cls


add_days = _dialect_function(
    "add_days", Date(), "(CAST({0} AS DATE) + CAST({1} AS INTEGER))", "date({0}, CAST({1} AS TEXT) || ' days')",
    "``date + days`` (days an integer expression, negative allowed).")
zero_padded = _dialect_function(
    "zero_padded", String(), "LPAD(CAST({0} AS TEXT), {1}, '0')", "printf('%0' || {1} || 'd', {0})",
    "An integer as text, left-padded with zeros to ``width`` digits.")
