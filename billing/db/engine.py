"""Engines for the billing database: SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, Select, Table, create_engine, event, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from billing.db.money import register_sqlite_functions
from billing.db.schema import id_allocator
from billing.errors import DatabaseRefused, DatabaseUnavailable
from billing.settings import PRIVATE_FILE_MODE, private_folder

SQLITE_BUSY_TIMEOUT_MS = 60_000


def normalize_url(url: str | URL) -> str:
    """``postgresql://`` means psycopg 3 to SQLAlchemy 2.1; we ship psycopg2 (DAGSTER_NOTES)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def display_url(url: str | URL) -> str:
    """``url`` fit to print, log or keep: its password masked (``***``). A database URL may
    carry one (``BILLING_DATABASE_URL``, ``BILLING_WAREHOUSE_URL``); one that does not parse is
    not shown at all, since where its password sits is unknown."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(a database URL that does not parse)"


_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
_DEFAULT_PORTS = {"postgresql": 5432}


def same_database(first: str | URL, second: str | URL) -> bool:
    """Whether two URLs name the same database, whichever credentials each logs in with: the
    loopback host however it is written (no host, a local socket, counts as it too), a missing
    port as the default one, a SQLite file by its resolved path."""
    def where(url: str | URL):
        parsed = make_url(normalize_url(url))
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            in_memory = parsed.database in (None, "", ":memory:")
            return backend, parsed.database if in_memory else str(Path(parsed.database).resolve())
        host = (parsed.host or "localhost").lower()
        return (backend, "localhost" if host in _LOOPBACK_HOSTS else host,
                parsed.port or _DEFAULT_PORTS.get(backend), parsed.database)

    return where(first) == where(second)


@dataclass(frozen=True)
class EngineSettings:
    """Connection pool and session settings of a PostgreSQL engine (the operations
    configuration's ``database_config``). SQLite has one writer and no server: it keeps its
    own settings (WAL, busy timeout) and ignores these."""

    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout_s: int = 30
    pool_recycle_s: int = -1
    isolation_level: str = "READ COMMITTED"
    statement_timeout_s: int | None = None
    # Per session, for the set-based steps: sorts and hashes over a feed's rows in memory
    # rather than in temporary files, and scratch tables kept in memory (PostgreSQL's
    # defaults, 4 MB and 8 MB, sent every pass of a 200,000-row step through the disk).
    work_mem_mb: int = 64
    temp_buffers_mb: int = 256
    # No JIT compilation: it cost 0.2–0.5 s of every large statement of a step (a statement
    # planned above jit_above_cost, as any over a big feed is), more than it saved them.
    jit: bool = False
    # The sample of the steps' own ANALYZE after each bulk pass (300 rows per unit: 3,000):
    # the plans need a feed's status and null fractions, which a small sample gives as well
    # as the default (100: 30,000 rows, a third of a second per pass over 400,000 legs).
    # Autovacuum's ANALYZE keeps the server's default.
    statistics_target: int = 10

    def session_options(self) -> str:
        """The settings as libpq ``options``."""
        options = [f"-c work_mem={self.work_mem_mb}MB", f"-c temp_buffers={self.temp_buffers_mb}MB",
                   f"-c jit={'on' if self.jit else 'off'}", f"-c default_statistics_target={self.statistics_target}"]
        if self.statement_timeout_s:
            options.append(f"-c statement_timeout={self.statement_timeout_s * 1000}")
        return " ".join(options)


def make_engine(url: str, settings: EngineSettings | None = None) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    settings = settings or EngineSettings()
    engine = create_engine(
        url, pool_pre_ping=True, future=True, pool_size=settings.pool_size, max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s, pool_recycle=settings.pool_recycle_s,
        isolation_level=settings.isolation_level,
        connect_args={"connect_timeout": settings.pool_timeout_s, "options": settings.session_options()},
    )
    event.listen(engine, "handle_error", _database_unavailable)
    return engine


# What a server that answered says when it will not let this URL in: no wait mends that.
_SERVER_REFUSALS = ("password authentication failed", "does not exist", "no pg_hba.conf entry",
                    "permission denied for database")


def _database_unavailable(context) -> None:
    """A connection the server dropped under a statement (a restart, a crash), or one it did not
    open, becomes ``DatabaseUnavailable``: what happened, to which database, and what to do —
    rather than the driver's "server closed the connection unexpectedly". SQLAlchemy still
    invalidates the connection, and the pool's pre-ping reconnects quietly on its own."""
    if context.is_pre_ping:
        return
    lost = context.is_disconnect
    refused = context.connection is None and isinstance(context.sqlalchemy_exception, OperationalError)
    if not (lost or refused):
        return
    where = context.engine.url.render_as_string(hide_password=True)  # (no engine only in a pre-ping)
    reason = next((line.strip() for line in str(context.original_exception).splitlines() if line.strip()), "")
    if refused and any(text in str(context.original_exception) for text in _SERVER_REFUSALS):
        raise DatabaseRefused(
            f"the database server of {where} refused the connection ({reason}): correct the URL — its user, "
            "password or database name (BILLING_DATABASE_URL) — or the server's access rules, then run it again.")
    if lost:
        raise DatabaseUnavailable(
            f"the connection to the database {where} was lost ({reason}). The server rolls back a transaction "
            "whose connection is cut (or, cut while committing, commits it whole): nothing is half-written. Once "
            "the database answers again, run it again — the same command, or re-execute the run: every step is "
            "idempotent.")
    raise DatabaseUnavailable(
        f"the database {where} cannot be reached ({reason}): start the database server (or correct the URL, "
        "BILLING_DATABASE_URL), then run it again.")


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        _private_database_file(Path(database))
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not pysqlite, issue BEGIN (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        register_sqlite_functions(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Take the write lock up front: a deferred transaction that reads and then writes
        # fails with SQLITE_BUSY at once under contention instead of waiting its turn.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _private_database_file(path: Path) -> None:
    """Create the SQLite database file, when missing, readable by this user only (0o600), in a
    private folder: SQLite gives its -wal and -shm files the database file's mode, and would
    otherwise create all three as the umask allows."""
    private_folder(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        pass


def allocate_ids(conn: Connection, name: str, count: int) -> int:
    """Reserve ``count`` consecutive ids of the counter ``name``; return the first.

    The counter row is locked for the rest of the transaction, which also serialises the
    steps that write shared rows (aggregated charges) on PostgreSQL.
    """
    dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    # Two first users of a counter must not both create it: the loser of the race does nothing.
    conn.execute(dialect_insert(id_allocator).values(name=name, next_id=1).on_conflict_do_nothing())
    query = select(id_allocator.c.next_id).where(id_allocator.c.name == name)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    first = conn.execute(query).scalar()
    if count:
        conn.execute(
            update(id_allocator).where(id_allocator.c.name == name).values(next_id=first + count)
        )
    return first


def insert_numbered(conn: Connection, target: Table, id_column: str, rows: Select, order_by: tuple[str, ...]) -> int:
    """INSERT … SELECT ``rows`` into ``target``, each row numbered from the counter named
    ``id_column`` in the order of the ``order_by`` columns of ``rows`` (so a re-run numbers
    the same rows the same way). Returns the number of rows inserted.

    The counter is locked first and moved on by the number of rows inserted, so ``rows`` is
    run once — counting it beforehand cost as much as a second run (1.8 s of a million legs).
    """
    source = rows.subquery()
    first = allocate_ids(conn, id_column, 0)
    number = literal(first - 1) + func.row_number().over(order_by=[source.c[name] for name in order_by])
    count = conn.execute(insert(target).from_select([*source.c.keys(), id_column], select(*source.c, number))).rowcount
    if count:
        allocate_ids(conn, id_column, count)
    return count
