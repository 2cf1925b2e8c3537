"""Feeds that cannot be processed: quarantined or INVL, always with a message naming the
file and the reason, never a traceback."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance, build_sensor_context

from billing.db.schema import txn_detail, txn_header
from billing.feeds.inbox import REASON_FILE, identify, submit
from resources import BillingDatabase, DocumentNotifier, FeedInbox
from sensors.feeds import feed_sensor
from tests.world import load_world, rows, run_feed, statuses, write_feed

GOOD = ["Q1,2026-11-10,A1,CHQ,USD,500.00,4,", "Q2,2026-11-11,A1,CHQ,USD,20.50,1,"]


@pytest.fixture
def world(engine, billing_home, tmp_path):
    load_world(engine, tmp_path / "reference")
    return engine


def _header(engine, header_id):
    return rows(engine, txn_header, "status", "message", where=txn_header.c.header_id == header_id)[0]


def _sensor(instance):
    context = build_sensor_context(instance=instance, resources={"inbox": FeedInbox(), "database": BillingDatabase(),
                                                                 "notifier": DocumentNotifier()})
    return feed_sensor(context)


def test_sensor_registers_a_complete_feed_and_ignores_a_redrop(world, billing_home, tmp_path):
    instance = DagsterInstance.ephemeral()
    control = write_feed(tmp_path / "drop", "good", GOOD)
    submit(control.with_suffix("").with_suffix(".csv"), control, billing_home.inbox)
    header_id = identify(billing_home.inbox / "good.ctl.json").header_id
    result = _sensor(instance)
    assert [(r.partition_key, r.run_key) for r in result.run_requests] == [(header_id, header_id)]
    assert result.dynamic_partitions_requests[0].partition_keys == [header_id]

    run_feed(billing_home, control, instance=instance)  # the run the sensor asked for
    submit(control.with_suffix("").with_suffix(".csv"), control, billing_home.inbox)  # the same bytes again
    again = _sensor(instance)
    assert not getattr(again, "run_requests", None)
    assert not list(billing_home.inbox.iterdir())
    assert (billing_home.archive / header_id / "redropped" / "good.ctl.json").is_file()


def test_sensor_quarantines_unreadable_control_files(world, billing_home):
    (billing_home.inbox / "broken.csv").write_text("x\n")
    (billing_home.inbox / "broken.ctl.json").write_text("{not json")
    (billing_home.inbox / "lonely.ctl.json").write_text(json.dumps({
        "external_header_id": "L1", "header_date": "2026-11-20", "source": "BANKA", "division": "US",
        "record_count": 1, "total_amount": "1", "total_volume": "1", "data_file": "lonely.csv"}))
    result = _sensor(DagsterInstance.ephemeral())
    assert not getattr(result, "run_requests", None)
    broken = (billing_home.quarantine / "broken" / REASON_FILE).read_text()
    assert "control file broken.ctl.json is not valid JSON" in broken
    assert (billing_home.quarantine / "broken" / "broken.csv").is_file()
    lonely = (billing_home.quarantine / "lonely" / REASON_FILE).read_text()
    assert "data file lonely.csv named by control file lonely.ctl.json is missing" in lonely
    assert not list(billing_home.inbox.iterdir())


def test_a_data_file_that_is_not_utf8_is_invalid_and_quarantined(world, billing_home, tmp_path):
    control = write_feed(tmp_path / "drop", "latin", GOOD)
    data = control.with_name("latin.csv")
    data.write_bytes(data.read_bytes() + "Q3,2026-11-11,A1,CHQ,USD,1.00,1,caf\xe9\n".encode("latin-1"))
    header_id, outcome = run_feed(billing_home, control)
    assert outcome.success
    status, message = _header(world, header_id)
    assert status == "INVL"
    assert "data file latin.csv is not UTF-8 text" in message
    folder = billing_home.quarantine / header_id
    assert sorted(p.name for p in folder.iterdir()) == [REASON_FILE, "latin.csv", "latin.ctl.json"]
    assert "latin.csv is not UTF-8" in (folder / REASON_FILE).read_text()


def test_wrong_column_names_make_the_feed_invalid(world, billing_home, tmp_path):
    control = write_feed(tmp_path / "drop", "columns", ["Q1,2026-11-10,A1,CHQ,USD,5.00,1,"],
                         header="txn_id,txn_datetime,account,product_code,currency,amount,volume,channel")
    header_id, _ = run_feed(billing_home, control)
    status, message = _header(world, header_id)
    assert status == "INVL"
    assert "data file columns.csv lacks required column(s) external_txn_id, account_id" in message
    assert (billing_home.quarantine / header_id / REASON_FILE).is_file()


def test_a_byte_order_mark_and_an_over_long_cell(world, billing_home, tmp_path):
    control = write_feed(tmp_path / "drop", "bom", ["Q1,2026-11-10,A1,CHQ,USD,5.00,1,", "Q2,2026-11-10," + "A" * 80
                                                    + ",CHQ,USD,1.00,1,"])
    data = control.with_name("bom.csv")
    data.write_bytes(b"\xef\xbb\xbf" + data.read_bytes())
    header_id, outcome = run_feed(billing_home, control)
    assert outcome.success, outcome.failures
    assert statuses(world, header_id) == {"Q1": "COMP", "Q2": "INVL"}
    (message,) = rows(world, txn_detail, "message", where=txn_detail.c.external_txn_id == "Q2")[0]
    assert message.startswith("row 2: account_id is longer than 64 characters")


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"record_count": 3}, "record_count 3 in the control file, 2 rows in the data file"),
        ({"total_amount": "520.49"}, "total_amount 520.49 in the control file, 520.50 summed over the data file"),
        ({"total_volume": "6"}, "total_volume 6 in the control file, 5 summed over the data file"),
        ({"total_volume": "-5", "checksum": False}, "negative total_volume -5 is not allowed"),
    ],
)
def test_header_validation_failures(world, billing_home, tmp_path, change, reason):
    kwargs = {k: v for k, v in change.items() if k != "checksum"}
    control = write_feed(tmp_path / "drop", "hv", GOOD, **kwargs)
    header_id, outcome = run_feed(billing_home, control)
    assert outcome.success
    status, message = _header(world, header_id)
    assert status == "INVL"
    assert reason in message
    assert statuses(world, header_id) == {"Q1": "INVL", "Q2": "INVL"}
    assert all(reason in m for (m,) in rows(world, txn_detail, "message", where=txn_detail.c.header_id == header_id))


def test_a_second_feed_with_the_same_header_is_a_duplicate(world, billing_home, tmp_path):
    first, _ = run_feed(billing_home, write_feed(tmp_path / "a", "day", GOOD, external_header_id="B-1"))
    second, _ = run_feed(billing_home, write_feed(tmp_path / "b", "day", GOOD[:1], external_header_id="B-1"))
    assert first != second
    assert _header(world, first)[0] == "VALI"
    status, message = _header(world, second)
    assert status == "INVL"
    assert f"duplicate of feed {first}" in message


def test_the_command_line_names_the_problem_without_a_traceback(world, billing_home, tmp_path):
    bad = tmp_path / "bad.ctl.json"
    bad.write_text('{"external_header_id": "X"}')
    env = {**os.environ}
    done = subprocess.run([str(Path(sys.executable).parent / "billing"), "feed", "process", str(bad)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert "control file bad.ctl.json lacks header_date, source, division, record_count" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
