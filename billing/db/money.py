"""Exact decimal arithmetic in SQL on both PostgreSQL and SQLite.

PostgreSQL has ``NUMERIC``; SQLite has no decimal type and would silently store money as
binary floating point. So a money column is ``NUMERIC`` on PostgreSQL and canonical decimal
*text* on SQLite, and every piece of arithmetic the billing steps do in SQL goes through the
functions below: on PostgreSQL they compile to the native operators, on SQLite to small
Python functions (registered on every connection by :func:`register_sqlite_functions`) that
compute with :class:`decimal.Decimal`. Set-based statements stay set-based, and exact.
"""

from __future__ import annotations

import decimal
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from sqlalchemy import Numeric, String, types
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

_CONTEXT = decimal.Context(prec=40, rounding=ROUND_HALF_UP)


def to_text(value: Decimal | int | str) -> str:
    """Canonical fixed-point text of a decimal (never exponent notation)."""
    return format(Decimal(value), "f")


class Money(types.TypeDecorator):
    """An exact decimal: ``NUMERIC`` on PostgreSQL, decimal text on SQLite."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String())
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            return to_text(value)
        return Decimal(value) if not isinstance(value, Decimal) else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


# --- SQL functions ------------------------------------------------------------------------


class _DecimalFunction(FunctionElement):
    type = Money()
    inherit_cache = True


def _function(name: str, pg_template: str, doc: str, result=None) -> type[_DecimalFunction]:
    """A SQL function class: ``pg_template`` on PostgreSQL, the registered ``name`` on SQLite.
    The result is a decimal unless ``result`` gives another type."""
    attributes = {"name": name, "inherit_cache": True, "__doc__": doc}
    if result is not None:
        attributes["type"] = result
    cls = type(name, (_DecimalFunction,), attributes)

    @compiles(cls)
    def _native(element, compiler, **kw):
        return pg_template.format(*(compiler.process(arg, **kw) for arg in element.clauses))

    @compiles(cls, "sqlite")
    def _python(element, compiler, **kw):
        return f"{name}({', '.join(compiler.process(arg, **kw) for arg in element.clauses)})"

    return cls


dsum = _function("dec_sum", "SUM({0})", "Exact SUM of a money expression (aggregate).")
dadd = _function("dec_add", "({0} + {1})", "Exact sum of two.")
dsub = _function("dec_sub", "({0} - {1})", "Exact difference.")
dmul = _function("dec_mul", "({0} * {1})", "Exact product.")
ddiv = _function("dec_div", "({0} / {1})", "Quotient (40 significant digits on SQLite).")
dround = _function("dec_round", "ROUND(CAST({0} AS NUMERIC), {1})", "Round half-up (ties away from zero) to N places.")
dceil = _function("dec_ceil", "CEIL({0})", "Smallest integer not below.")
dmax = _function("dec_max", "GREATEST({0}, {1})", "The larger of two decimals, ignoring a NULL.")
dmin = _function("dec_min", "LEAST({0}, {1})", "The smaller of two decimals, ignoring a NULL.")
dsign = _function("dec_sign", "CAST(SIGN({0}) AS INTEGER)", "-1, 0 or 1: the sign, for comparisons.", types.Integer())


# --- SQLite implementations ------------------------------------------------------------------


def _dec(value) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else to_text(value)


def _binary(op):
    def fn(a, b):
        x, y = _dec(a), _dec(b)
        if x is None or y is None:
            return None
        return _text(op(x, y))

    return fn


def _round(value, places):
    x = _dec(value)
    if x is None:
        return None
    return _text(x.quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_UP, context=_CONTEXT))


def _ceil(value):
    x = _dec(value)
    return None if x is None else _text(x.to_integral_value(rounding=ROUND_CEILING))


def _pick(choose):
    def fn(a, b):
        x, y = _dec(a), _dec(b)
        if x is None:
            return _text(y)
        if y is None:
            return _text(x)
        return _text(choose(x, y))

    return fn


def _sign(value):
    x = _dec(value)
    return None if x is None else (x > 0) - (x < 0)


class _Sum:
    def __init__(self):
        self.total = None

    def step(self, value):
        if value is not None:
            self.total = _CONTEXT.add(self.total or Decimal(0), Decimal(str(value)))

    def finalize(self):
        return _text(self.total)


def register_sqlite_functions(dbapi_connection) -> None:
    """Install the decimal functions on one sqlite3 connection."""
    dbapi_connection.create_function("dec_add", 2, _binary(_CONTEXT.add), deterministic=True)
    dbapi_connection.create_function("dec_sub", 2, _binary(_CONTEXT.subtract), deterministic=True)
    dbapi_connection.create_function("dec_mul", 2, _binary(_CONTEXT.multiply), deterministic=True)
    dbapi_connection.create_function("dec_div", 2, _binary(_CONTEXT.divide), deterministic=True)
    dbapi_connection.create_function("dec_round", 2, _round, deterministic=True)
    dbapi_connection.create_function("dec_ceil", 1, _ceil, deterministic=True)
    dbapi_connection.create_function("dec_max", 2, _pick(max), deterministic=True)
    dbapi_connection.create_function("dec_min", 2, _pick(min), deterministic=True)
    dbapi_connection.create_function("dec_sign", 1, _sign, deterministic=True)
    dbapi_connection.create_aggregate("dec_sum", 1, _Sum)
