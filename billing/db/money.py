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


class dsum(_DecimalFunction):
    """Exact ``SUM`` of a money expression (aggregate)."""

    name = "dec_sum"
    inherit_cache = True


class dadd(_DecimalFunction):
    name = "dec_add"
    inherit_cache = True


class dsub(_DecimalFunction):
    name = "dec_sub"
    inherit_cache = True


class dmul(_DecimalFunction):
    name = "dec_mul"
    inherit_cache = True


class ddiv(_DecimalFunction):
    name = "dec_div"
    inherit_cache = True


class dround(_DecimalFunction):
    """Round half-up (ties away from zero) to N decimal places."""

    name = "dec_round"
    inherit_cache = True


class dceil(_DecimalFunction):
    name = "dec_ceil"
    inherit_cache = True


class dmax(_DecimalFunction):
    """The larger of two decimals, ignoring a NULL second argument."""

    name = "dec_max"
    inherit_cache = True


class dmin(_DecimalFunction):
    """The smaller of two decimals, ignoring a NULL second argument."""

    name = "dec_min"
    inherit_cache = True


class dsign(FunctionElement):
    """-1, 0 or 1: the sign of a decimal (for comparisons in WHERE clauses)."""

    type = types.Integer()
    name = "dec_sign"
    inherit_cache = True
    inherit_cache = True


_PG_TEMPLATES = {
    "dec_sum": "SUM({0})",
    "dec_add": "({0} + {1})",
    "dec_sub": "({0} - {1})",
    "dec_mul": "({0} * {1})",
    "dec_div": "({0} / {1})",
    "dec_round": "ROUND({0}, {1})",
    "dec_ceil": "CEIL({0})",
    "dec_max": "GREATEST({0}, {1})",
    "dec_min": "LEAST({0}, {1})",
    "dec_sign": "SIGN({0})::integer",
}


def _compile_default(element, compiler, **kw):
    args = [compiler.process(arg, **kw) for arg in element.clauses]
    template = _PG_TEMPLATES[element.name]
    if element.name == "dec_round":
        args[0] = f"CAST({args[0]} AS NUMERIC)"
    return template.format(*args)


def _compile_sqlite(element, compiler, **kw):
    args = ", ".join(compiler.process(arg, **kw) for arg in element.clauses)
    return f"{element.name}({args})"


for _fn in (dsum, dadd, dsub, dmul, ddiv, dround, dceil, dmax, dmin, dsign):
    compiles(_fn)(_compile_default)
    compiles(_fn, "sqlite")(_compile_sqlite)


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
