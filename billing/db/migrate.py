"""Create or upgrade the billing schema (``billing init``).

An empty database is built from the current schema and stamped at the newest Alembic
revision (Alembic's recommended way to build from scratch); an existing one is upgraded
through the migrations in ``billing/db/migrations/versions``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect

from billing.db.schema import metadata

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> str:
    """Bring the schema to the newest revision; return what was done."""
    config = alembic_config(engine)
    if "alembic_version" not in inspect(engine).get_table_names():
        metadata.create_all(engine)
        command.stamp(config, "head")
        return "created"
    command.upgrade(config, "head")
    return "upgraded"
