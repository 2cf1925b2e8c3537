"""The EDW export (issue 7, item 8): rows changed in an hour, exactly; later changes winning;
deletions as tombstones; re-runs that change nothing; the warehouse database; the assets.

The world (tests/closeofday_world.py): accounts A1 and A2, contract K1 of A1, the COMPLETE bill
B1 of A1 for 120.50 on one ADJUSTMENT charge, and a payment of 100.25 by A1 — every row stamped
2026-03-10 19:05 UTC, i.e. in the partition 2026-03-10-14:00 America/Chicago (CDT, UTC−5).
"""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, EnvVar, materialize
from sqlalchemy import delete, insert, select, update

from billing.db.engine import make_engine
from billing.db.schema import accounts, bill, bill_chg, contracts, payment, warehouse_deletion
from billing.db.timestamps import as_utc
from billing.warehouse.export import WarehouseExportError, export_hour
from billing.warehouse.layout import MONEY, hour_file
from billing.warehouse.state import warehouse_state
from billing.warehouse.target import WAREHOUSE_URL_ENV
from billing_assets.warehouse import billing_data_sync, contract_data_sync, customer_data_sync, payment_data_sync
from resources import BillingDatabase, FeedInbox, Warehouse
from tests.closeofday_world import ACCOUNT_HEADER, completed_bill, load
from tests.world import rows

UTC = timezone.utc
HOUR = datetime(2026, 3, 10, 19, tzinfo=UTC)  # partition 2026-03-10-14:00 (America/Chicago)
NEXT = HOUR + timedelta(hours=1)
STAMP = datetime(2026, 3, 10, 19, 5, tzinfo=UTC)
TRACKED = (accounts, contracts, bill_chg, bill, payment)
ACCOUNTS = ACCOUNT_HEADER + "A1,P1,US,USD,C1,OPEN,,,2025-01-01,,14,VAT,a1@example.com\n" \
                            "A2,P2,US,USD,C1,OPEN,,,2025-02-01,,30,,\n"
CONTRACTS = "contract_id,account_id,contract_type,status,start_dt,end_dt\nK1,A1,CARDS,ACTIVE,2025-01-01,\n"


def _stamp(engine, table, at, where=None) -> None:
    """Set ``changed_at`` explicitly (the triggers keep a time the statement sets itself)."""
    with engine.begin() as conn:
        conn.execute(update(table).where(where if where is not None else True).values(changed_at=at))


@pytest.fixture
def world(engine, tmp_path):
    load(engine, tmp_path / "reference", {"accounts": ACCOUNTS, "contracts": CONTRACTS})
    with engine.begin() as conn:
        completed_bill(conn, "B1", "A1", date(2026, 3, 1), date(2026, 3, 31), D("120.50"))
        conn.execute(insert(payment).values(payment_id="F1:1", account_id="A1", amount=D("100.25"),
                                            payment_dt=date(2026, 3, 10), reference="R1", file_id="F1"))
    for table in TRACKED:
        _stamp(engine, table, STAMP)
    return engine


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "warehouse"


def _file(folder, table, hour=HOUR) -> list[dict]:
    return pq.read_table(hour_file(folder, table, hour)).to_pylist()


def test_the_database_stamps_inserts_updates_and_deletions(engine):
    before = datetime.now(UTC).replace(microsecond=0)
    with engine.begin() as conn:
        conn.execute(insert(payment).values(payment_id="F9:1", account_id="A9", amount=D("1"),
                                            payment_dt=date(2026, 3, 1), reference="R9", file_id="F9"))
    inserted = _changed_at(engine)
    assert before <= inserted <= datetime.now(UTC)
    _stamp(engine, payment, STAMP)
    assert _changed_at(engine) == STAMP  # a time the statement sets is kept
    with engine.begin() as conn:
        conn.execute(update(payment).values(reference="R9b"))
    assert before <= _changed_at(engine) <= datetime.now(UTC)  # any other update stamps the row again
    with engine.begin() as conn:
        conn.execute(delete(payment))
    (logged,) = rows(engine, warehouse_deletion, "table_name", "row_key", "deleted_at")
    assert logged[:2] == ("payment", "F9:1")
    assert before <= as_utc(logged[2]) <= datetime.now(UTC)


def _changed_at(engine) -> datetime:
    with engine.connect() as conn:
        return as_utc(conn.execute(select(payment.c.changed_at)).scalar_one())


def test_rows_changed_in_the_hour_are_exported_exactly(world, folder):
    exports = export_hour(world, folder, HOUR)
    assert [(e.table, e.rows, e.tombstones) for e in exports] == [
        ("accounts", 2, 0), ("contracts", 1, 0), ("bill_chg", 1, 0), ("bill", 1, 0), ("payment", 1, 0)]
    assert _file(folder, "payment") == [{
        "payment_id": "F1:1", "account_id": "A1", "amount": D("100.25"), "payment_dt": date(2026, 3, 10),
        "reference": "R1", "file_id": "F1", "changed_at": STAMP, "_deleted": False}]
    assert pq.read_schema(hour_file(folder, "payment", HOUR)).field("amount").type == MONEY
    (b1,) = _file(folder, "bill")
    assert (b1["bill_id"], b1["status"], b1["total_amount"], b1["subtotal"], b1["tax_amount"], b1["paid_amount"]) == (
        "B1", "COMPLETE", D("120.50"), D("120.50"), D(0), None)
    (charge,) = _file(folder, "bill_chg")
    assert (charge["account_id"], charge["source"], charge["charge_amount"], charge["txn_volume"]) == (
        "A1", "ADJUSTMENT", D("120.50"), D(0))
    assert [(a["account_id"], a["payment_terms_days"], a["start_dt"]) for a in _file(folder, "accounts")] == [
        ("A1", 14, date(2025, 1, 1)), ("A2", 30, date(2025, 2, 1))]
    assert hour_file(folder, "payment", HOUR).name == "hour=2026-03-10T19Z.parquet"
    assert all(e.file is None for e in export_hour(world, folder, HOUR - timedelta(hours=1)))  # nothing at 18:00


def test_the_batch_size_sets_the_rows_read_and_written_at_a_time(world, folder):
    export_hour(world, folder, HOUR, tables=("accounts",), chunk_rows=1)  # batch_size 1: one row group per row
    single = pq.ParquetFile(hour_file(folder, "accounts", HOUR))
    assert single.metadata.num_row_groups == 2
    by_one = single.read().to_pylist()
    export_hour(world, folder, HOUR, tables=("accounts",))
    assert pq.ParquetFile(hour_file(folder, "accounts", HOUR)).metadata.num_row_groups == 1
    assert _file(folder, "accounts") == by_one  # the same rows either way


def test_a_later_change_is_exported_in_its_hour_and_wins(world, folder):
    export_hour(world, folder, HOUR)
    with world.begin() as conn:
        conn.execute(update(payment).values(amount=D("99.99")))
    _stamp(world, payment, NEXT + timedelta(minutes=30))
    export_hour(world, folder, NEXT)
    assert [(p["amount"], p["changed_at"]) for p in _file(folder, "payment", NEXT)] == [
        (D("99.99"), NEXT + timedelta(minutes=30))]
    assert warehouse_state(folder, "payment").select(["payment_id", "amount"]).to_pylist() == [
        {"payment_id": "F1:1", "amount": D("99.99")}]
    # The hour re-run: the payment has moved on to the next hour, so its old file goes.
    export_hour(world, folder, HOUR)
    assert not hour_file(folder, "payment", HOUR).exists()
    assert warehouse_state(folder, "payment").column("amount").to_pylist() == [D("99.99")]


def _delete_bill(engine, at) -> None:
    with engine.begin() as conn:
        conn.execute(delete(bill_chg))
        conn.execute(delete(bill))
        conn.execute(update(warehouse_deletion).values(deleted_at=at))


def test_a_deleted_bill_and_charge_arrive_as_tombstones(world, folder):
    export_hour(world, folder, HOUR)
    (charge_id,) = warehouse_state(folder, "bill_chg").column("bill_chg_id").to_pylist()
    deleted_at = NEXT + timedelta(minutes=10)
    _delete_bill(world, deleted_at)
    exports = {e.table: (e.rows, e.tombstones) for e in export_hour(world, folder, NEXT)}
    assert exports == {"accounts": (0, 0), "contracts": (0, 0), "bill_chg": (0, 1), "bill": (0, 1), "payment": (0, 0)}
    (tombstone,) = _file(folder, "bill", NEXT)
    assert tombstone == {**{c.name: None for c in bill.columns}, "bill_id": "B1", "changed_at": deleted_at,
                         "_deleted": True}
    assert [(t["bill_chg_id"], t["_deleted"]) for t in _file(folder, "bill_chg", NEXT)] == [(charge_id, True)]
    assert warehouse_state(folder, "bill").num_rows == 0
    assert warehouse_state(folder, "bill_chg").num_rows == 0
    assert warehouse_state(folder, "payment").num_rows == 1


def test_re_running_an_hour_changes_nothing(world, folder, tmp_path):
    target = f"sqlite:///{tmp_path / 'edw.db'}"
    export_hour(world, folder, HOUR, warehouse_url=target)
    files = {path: path.read_bytes() for path in folder.rglob("*.parquet")}
    assert len(files) == 5
    before = _warehouse_rows(target)
    export_hour(world, folder, HOUR, warehouse_url=target)
    assert {path: path.read_bytes() for path in folder.rglob("*.parquet")} == files
    assert _warehouse_rows(target) == before
    assert not list(folder.rglob("*.partial"))


def _warehouse_rows(url) -> dict[str, list[tuple]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: conn.execute(select(t).order_by(*t.primary_key.columns)).all()
                    for t in (*TRACKED, warehouse_deletion)}
    finally:
        engine.dispose()


def test_the_warehouse_database_follows_the_source(world, folder, tmp_path):
    target = f"sqlite:///{tmp_path / 'edw.db'}"
    export_hour(world, folder, HOUR, warehouse_url=target)
    tables = _warehouse_rows(target)
    assert [(p.payment_id, p.amount, as_utc(p.changed_at)) for p in tables["payment"]] == [("F1:1", D("100.25"), STAMP)]
    assert [(b.bill_id, b.total_amount) for b in tables["bill"]] == [("B1", D("120.50"))]
    assert [a.account_id for a in tables["accounts"]] == ["A1", "A2"]
    (charge,) = tables["bill_chg"]
    with world.begin() as conn:
        conn.execute(update(payment).values(amount=D("99.99")))
    _stamp(world, payment, NEXT + timedelta(minutes=30))
    _delete_bill(world, NEXT + timedelta(minutes=10))
    export_hour(world, folder, NEXT, warehouse_url=target)
    tables = _warehouse_rows(target)
    assert [(p.payment_id, p.amount) for p in tables["payment"]] == [("F1:1", D("99.99"))]
    assert tables["bill"] == [] and tables["bill_chg"] == []
    assert [(d.table_name, d.row_key) for d in tables["warehouse_deletion"]] == [
        ("bill", "B1"), ("bill_chg", str(charge.bill_chg_id))]
    assert len(tables["accounts"]) == 2  # untouched by an hour that did not change them
    # An older hour exported late changes nothing newer (the warehouse converges whatever the order).
    export_hour(world, folder, HOUR, warehouse_url=target)
    assert _warehouse_rows(target) == tables


def test_the_billing_database_is_refused_as_warehouse(world, folder, db_url):
    with pytest.raises(WarehouseExportError, match="names the billing database itself"):
        export_hour(world, folder, HOUR, warehouse_url=db_url)


def test_a_value_the_file_type_cannot_hold_names_table_hour_and_column(world, folder):
    with world.begin() as conn:
        conn.execute(update(payment).values(amount=D("0.0000000000001"), changed_at=STAMP + timedelta(minutes=1)))
    with pytest.raises(WarehouseExportError, match=r"payment hour=2026-03-10T19Z: column amount"):
        export_hour(world, folder, HOUR, tables=("payment",))
    assert not (folder / "payment").exists() or not list((folder / "payment").iterdir())


def test_the_assets_export_the_partition_hour(world, billing_home, db_url, tmp_path, monkeypatch):
    monkeypatch.setenv(WAREHOUSE_URL_ENV, f"sqlite:///{tmp_path / 'edw.db'}")
    result = materialize(
        [customer_data_sync, contract_data_sync, billing_data_sync, payment_data_sync],
        partition_key="2026-03-10-14:00", instance=DagsterInstance.ephemeral(),
        resources={"database": BillingDatabase(url=db_url), "inbox": FeedInbox(home=str(billing_home.home)),
                   "warehouse": Warehouse(url=EnvVar(WAREHOUSE_URL_ENV))})  # as the Definitions give it
    assert result.success
    metadata = {node: result.asset_materializations_for_node(node)[0].metadata
                for node in ("customer_data_sync", "contract_data_sync", "billing_data_sync", "payment_data_sync")}
    billing = metadata["billing_data_sync"]
    assert (billing["bill_chg_rows"].value, billing["bill_rows"].value, billing["bill_tombstones"].value) == (1, 1, 0)
    assert billing["files_written"].value == 2
    assert billing["hour_utc"].value == "hour=2026-03-10T19Z"
    assert billing["warehouse_database"].value == "BILLING_WAREHOUSE_URL"
    assert "| bill | 1 | 0 | warehouse/bill/hour=2026-03-10T19Z.parquet |" in billing["exported"].value
    assert "| B1 | A1 | 2026-03-01 |" in billing["bill_preview"].value
    assert "| 120.5 |" in billing["bill_preview"].value
    assert metadata["customer_data_sync"]["accounts_rows"].value == 2
    assert metadata["payment_data_sync"]["payment_rows"].value == 1
    assert (billing_home.warehouse / "payment" / "hour=2026-03-10T19Z.parquet").exists()
    assert _warehouse_rows(f"sqlite:///{tmp_path / 'edw.db'}")["payment"][0].amount == D("100.25")
    assert pa.types.is_decimal(pq.read_schema(billing_home.warehouse / "bill" / "hour=2026-03-10T19Z.parquet")
                               .field("total_amount").type)
