"""`billing init` builds a new database at the newest revision and upgrades an old one."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from billing.db.engine import make_engine
from billing.db.migrate import alembic_config, upgrade
from billing.db.schema import metadata

NEWEST = "0003"


def _revision(engine) -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _indexes(engine, table) -> set[str]:
    return {index["name"] for index in inspect(engine).get_indexes(table)}


def test_a_new_database_is_built_at_the_newest_revision(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert upgrade(engine) == "created"
    assert _revision(engine) == NEWEST
    assert "ix_derivation_rules_division" in _indexes(engine, "derivation_rules")
    assert upgrade(engine) == "upgraded"  # running it again changes nothing
    assert _revision(engine) == NEWEST


def test_a_baseline_database_is_upgraded(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine)
    with engine.begin() as conn:  # back to what a 0001 database looked like
        conn.execute(text("DROP INDEX ix_derivation_rules_division"))
        conn.execute(text("DROP TABLE txn_calc_line"))
    command.stamp(alembic_config(engine), "0001")
    assert upgrade(engine) == "upgraded"
    assert _revision(engine) == NEWEST
    with engine.connect() as conn:  # the revisions rebuilt exactly what the schema declares
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
