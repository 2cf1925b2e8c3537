"""`billing init` builds a new database at the newest revision and upgrades an old one."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from billing.db.change_tracking import drop_change_triggers
from billing.db.engine import make_engine
from billing.db.migrate import alembic_config, upgrade
from billing.db.schema import metadata

NEWEST = "0011"
BILL_0001 = """CREATE TABLE bill (bill_id VARCHAR(64) NOT NULL, account_id VARCHAR(64) NOT NULL, bill_dt DATE NOT NULL,
    window_start DATE NOT NULL, window_end DATE NOT NULL, status VARCHAR(40) NOT NULL, due_dt DATE,
    invoice_number VARCHAR(40), subtotal VARCHAR, tax_amount VARCHAR, total_amount VARCHAR, PRIMARY KEY (bill_id),
    UNIQUE (invoice_number))"""
BILL_SEGMENT_0001 = """CREATE TABLE bill_segment (bseg_id VARCHAR(64) NOT NULL, bill_id VARCHAR(64) NOT NULL,
    bill_chg_id BIGINT NOT NULL, status VARCHAR(40) NOT NULL, amount VARCHAR, PRIMARY KEY (bseg_id))"""


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
        drop_change_triggers(conn)  # first: SQLite refuses to drop a column a trigger names
        for table in ("validation_result", "validation_error", "warehouse_deletion", "alert_log", "circuit_breaker",
                      "batch_execution_log", "batch_performance_metrics", "audit_log"):
            conn.execute(text(f"DROP TABLE {table}"))
        for table in ("accounts", "contracts", "bill_chg"):
            conn.execute(text(f"DROP INDEX ix_{table}_changed_at"))
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN changed_at"))
        conn.execute(text("DROP INDEX ix_derivation_rules_division"))
        for table in ("txn_detail_stg", "txn_detail"):
            conn.execute(text(f"CREATE INDEX ix_{table}_external ON {table} (header_id, external_txn_id)"))
        conn.execute(text("DROP TABLE txn_calc_line"))
        for table in ("credit_note", "bill_document", "closeofday_log", "bill_segment", "bill", "disagg_leg",
                      "disagg_charge", "deleted_bill", "pricing_change"):
            conn.execute(text(f"DROP TABLE {table}"))
        for table in ("service_definitions", "tax_rate_in_effect", "payment_file", "payment", "account_payment_info",
                      "notice", "daily_statistic"):
            conn.execute(text(f"DROP TABLE {table}"))
        conn.execute(text("DROP INDEX ux_bill_chg_service_period"))
        conn.execute(text("DROP INDEX ux_bill_chg_late_fee"))
        for table, column in (("txn_header", "reprocess_no"), ("disagg_req", "reference_load_id"),
                              ("txn_leg", "priced_load_id"), ("accounts", "status_reason"), ("accounts", "status_dt"),
                              ("accounts", "grace_dt"), ("accounts", "balance"), ("accounts", "past_due_balance"),
                              ("accounts", "balance_dt"), ("accounts", "finactivity_sw"),
                              ("services", "status_reason"), ("services", "status_dt"), ("bill_chg", "service_id"),
                              ("bill_chg", "period_start"), ("bill_chg", "period_end"),
                              ("bill_chg", "late_fee_bill_id")):
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
    with engine.begin() as conn:  # the bill tables as revision 0001 made them
        conn.execute(text(BILL_0001))
        conn.execute(text(BILL_SEGMENT_0001))
        conn.execute(text("CREATE INDEX ix_bill_account_id ON bill (account_id)"))
        conn.execute(text("CREATE INDEX ix_bill_segment_bill_id ON bill_segment (bill_id)"))
        conn.execute(text("CREATE INDEX ix_bill_segment_bill_chg_id ON bill_segment (bill_chg_id)"))
    command.stamp(alembic_config(engine), "0001")
    assert upgrade(engine) == "upgraded"
    assert _revision(engine) == NEWEST
    with engine.connect() as conn:  # the revisions rebuilt exactly what the schema declares
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
