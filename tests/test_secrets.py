"""Secrets stay secret, and $BILLING_HOME stays private.

The whole platform runs here with recognisable passwords in its environment — the SMTP login
(a real aiosmtpd server that takes mail only after it), and on PostgreSQL the billing
database URL, the Dagster instance's ``DAGSTER_PG_URL`` and the warehouse URL (the test
server trusts loopback, so it ignores the passwords, but every URL carries one) — through the
command line as an operator would: init, a reference load, a feed, a close of day that sends
an invoice by e-mail, then an hour of the warehouse export. Afterwards no password may be
anywhere the platform or Dagster writes or shows: the commands' output, every run's record,
tags, config and event log (materialization and check metadata included), the job
snapshots, the instance's configuration page, the captured compute logs and the run log
file, every table of the billing database (``audit_log`` above all), of the warehouse and of
the Dagster database, the files under ``$BILLING_HOME`` and the e-mail sent. All of it runs
under umask 0, the most permissive there is, and the folders and database the platform
created must still be private.

Also: the Definitions as the UI gets them name the secrets' variables, never their values;
the Celery executor's config does the same; URLs are masked wherever they are shown.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from dagster import DagsterInstance
from dagster_shared.serdes import serialize_value
from sqlalchemy import create_engine, inspect, make_url, select, text, update

from billing.cli import main
from billing.db.engine import display_url, make_engine, same_database
from billing.db.schema import audit_log, bill, bill_chg
from billing.operations.config import load_config
from billing.operations.instance import instance_settings
from billing.settings import BillingPaths
from jobs.launch import dagster_instance
from tests.conftest import POSTGRES_URL
from tests.mail import Mailbox, free_port, serving
from tests.world import REFERENCE, write_feed, write_reference

REPO = Path(__file__).resolve().parents[1]
BILLING = Path(sys.executable).parent / "billing"
SMTP_USER, SMTP_PASSWORD = "billing-relay", "SmtpPw7Rk2Qx9"
DATABASE_PASSWORD = "DbPw4Hn8Wt3Lz"
DAGSTER_PASSWORD = "DagsterPw6Jc1Vb5"
WAREHOUSE_PASSWORD = "EdwPw2Ms9Fy4"
CLOSE_DAY = "2026-11-05"  # bill cycle C1 closes on the 5th here: the window 10-05 … 11-04 holds the feed
DAY_OUT_OF_ORDER = "2026-11-07"  # 11-06 is not closed: refused, a step failure
EXPORTED_AT = datetime(2026, 11, 20, 15, 30, tzinfo=timezone.utc)  # the rows are stamped into this hour …
EXPORT_PARTITION = "2026-11-20-09:00"  # … which is this hourly partition (America/Chicago, CST)
CUSTOMER = "a1@bank.example"


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _command(*args: str) -> str:
    """``billing ARGS`` in a process of its own, as an operator runs it: its runs' steps write
    to real file descriptors, which Dagster captures to the compute logs on disk."""
    done = subprocess.run([str(BILLING), *args], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _on_server(*statements: str) -> None:
    """Run ``statements`` on the PostgreSQL test server, outside any database of the tests."""
    admin = create_engine(make_url(POSTGRES_URL).set(drivername="postgresql+psycopg2", database="postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
    admin.dispose()


def _database(name: str, password: str) -> str:
    """A fresh database ``name`` on the test server; its URL, logging in with ``password``."""
    _on_server(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg2", database=name, password=password)
    return url.render_as_string(hide_password=False)


@pytest.fixture
def permissive_umask():
    """umask 0 for the test: whatever the platform leaves open, other users could open."""
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.fixture
def platform(db_url, tmp_path, monkeypatch, permissive_umask):
    """The environment of a production-like installation: (paths, secrets by name, mailbox,
    run log folder, Dagster database URL or None, warehouse URL)."""
    home = tmp_path / "home"
    monkeypatch.setenv("BILLING_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))  # the default place, created by the platform
    secrets = {"BILLING_SMTP_PASSWORD": SMTP_PASSWORD}
    own_databases = []
    if db_url == POSTGRES_URL:
        own_databases = [f"{make_url(POSTGRES_URL).database}_{kind}_secrets" for kind in ("dagster", "edw")]
        database = make_url(db_url).set(password=DATABASE_PASSWORD).render_as_string(hide_password=False)
        dagster_url = _database(own_databases[0], DAGSTER_PASSWORD)
        warehouse_url = _database(own_databases[1], WAREHOUSE_PASSWORD)
        monkeypatch.setenv("DAGSTER_PG_URL", dagster_url)
        secrets |= {"BILLING_DATABASE_URL": DATABASE_PASSWORD, "DAGSTER_PG_URL": DAGSTER_PASSWORD,
                    "BILLING_WAREHOUSE_URL": WAREHOUSE_PASSWORD}
    else:  # the embedded default: SQLite in $BILLING_HOME, created by the platform (it has no password)
        database, dagster_url = f"sqlite:///{home / 'billing.db'}", None
        warehouse_url = f"sqlite:///{tmp_path / 'edw.db'}"
    monkeypatch.setenv("BILLING_DATABASE_URL", database)
    monkeypatch.setenv("BILLING_WAREHOUSE_URL", warehouse_url)
    logs = tmp_path / "logs"  # logging.log_destinations.file_logging.log_directory: the administrator's
    logs.mkdir(mode=0o700)
    values = yaml.safe_load(Path(os.environ["BILLING_CONFIG"]).read_text(encoding="utf-8"))
    values["logging"]["log_destinations"]["file_logging"]["log_directory"] = str(logs)
    (tmp_path / "batch_processing.yaml").write_text(yaml.safe_dump(values), encoding="utf-8")
    monkeypatch.setenv("BILLING_CONFIG", str(tmp_path / "batch_processing.yaml"))
    port = free_port()
    for name, value in {"HOST": "127.0.0.1", "PORT": str(port), "USER": SMTP_USER, "PASSWORD": SMTP_PASSWORD,
                        "FROM": "invoices@bank.example"}.items():
        monkeypatch.setenv(f"BILLING_SMTP_{name}", value)
    with serving(Mailbox(), port, credentials=(SMTP_USER, SMTP_PASSWORD)) as mailbox:
        yield BillingPaths(home), secrets, mailbox, logs, dagster_url, warehouse_url
    if own_databases:
        _on_server(*(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)" for name in own_databases))


def _run_the_platform(paths: BillingPaths, dagster_url: str | None, tmp_path: Path) -> list[str]:
    """Init, reference data, the Dagster instance, a feed, a close of day, an hour of export:
    the output of every command."""
    outputs = [_cli("init")]
    accounts = REFERENCE["accounts"].replace("A1,P1,US,USD,C1,OPEN,PARENT1,,2025-01-01,,,,",
                                             f"A1,P1,US,USD,C1,OPEN,PARENT1,,2025-01-01,,,,{CUSTOMER}")
    reference = write_reference(tmp_path / "reference",
                                {"accounts": accounts, "bill_cycles": "bill_cycle_cd,close_day\nC1,5\n"})
    dagster_instance()  # creates $DAGSTER_HOME as the command line does, before it gets its dagster.yaml
    settings_file = paths.home / "dagster" / "dagster.yaml"
    if dagster_url:  # the production instance: PostgreSQL storage, run queue, pools, run log file
        outputs.append(_cli("instance-config", "--out", str(settings_file)))
    else:  # SQLite storage; the run log file of the same configuration
        settings = instance_settings(load_config(paths.home))
        settings_file.write_text(yaml.safe_dump({key: settings[key] for key in ("python_logs", "telemetry")}),
                                 encoding="utf-8")
    outputs.append(_cli("reference", "load", str(reference)))
    control = write_feed(tmp_path / "drop", "secrets", ["C1,2026-11-03T10:00:00,A1,CARD,USD,100.00,1,BRANCH",
                                                         "C2,2026-11-03T11:00:00,A1,CARD,USD,10.00,1,BRANCH"])
    outputs.append(_command("feed", "process", str(control), "--business-date", "2026-11-21"))
    outputs.append(_command("closeofday", "--date", CLOSE_DAY))
    refused = CliRunner().invoke(main, ["closeofday", "--date", DAY_OUT_OF_ORDER])
    assert refused.exit_code == 2 and "comes first" in refused.output, refused.output
    outputs += [refused.output, _cli("status")]
    from definitions import defs

    failed = defs.resolve_job_def("closeofday_job").execute_in_process(  # a step failure, in every log
        instance=dagster_instance(), partition_key=DAY_OUT_OF_ORDER, raise_on_error=False)
    assert not failed.success
    engine = make_engine(os.environ["BILLING_DATABASE_URL"])
    with engine.begin() as conn:
        for table in (bill, bill_chg):
            conn.execute(update(table).values(changed_at=EXPORTED_AT))
    engine.dispose()
    exported = defs.resolve_job_def("warehouse_job").execute_in_process(instance=dagster_instance(),
                                                                       partition_key=EXPORT_PARTITION)
    assert exported.success
    metadata_of = exported.asset_materializations_for_node("billing_data_sync")[0].metadata
    assert metadata_of["warehouse_database"].value == "BILLING_WAREHOUSE_URL"
    assert metadata_of["bill_rows"].value == 1
    return outputs


def _dagster_records(instance: DagsterInstance) -> dict[str, str]:
    """Everything the instance keeps or shows, serialized: each run (config and tags), its
    event log, its job and execution plan snapshots, and the instance's configuration."""
    found = {"instance configuration": instance.info_str()}
    for record in instance.get_run_records():
        run = record.dagster_run
        found[f"run {run.run_id} {run.job_name}"] = serialize_value(run)
        found[f"event log of {run.run_id}"] = "\n".join(map(serialize_value, instance.all_logs(run.run_id)))
        if run.job_snapshot_id:
            found[f"job snapshot of {run.run_id}"] = serialize_value(instance.get_job_snapshot(run.job_snapshot_id))
        if run.execution_plan_snapshot_id:
            found[f"plan snapshot of {run.run_id}"] = serialize_value(
                instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id))
    return found


def _as_text(rows) -> str:
    """Rows as text, every value whole (a Row's own str() shortens long values)."""
    return "\n".join("\t".join(map(str, row)) for row in rows)


def _tables(url: str, label: str) -> dict[str, str]:
    """Every row of every table of the database at ``url``, as text, by "``label`` table NAME"."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {f"{label} table {name}": _as_text(conn.execute(text(f'SELECT * FROM "{name}"')))
                    for name in inspect(conn).get_table_names()}
    finally:
        engine.dispose()


def _files(*folders: Path) -> dict[str, bytes]:
    return {str(path): path.read_bytes() for folder in folders for path in folder.rglob("*") if path.is_file()}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_no_secret_reaches_output_runs_tables_files_or_mail_and_billing_home_stays_private(platform, tmp_path):
    paths, secrets, mailbox, logs, dagster_url, warehouse_url = platform
    outputs = _run_the_platform(paths, dagster_url, tmp_path)

    # The run went as an operator would see it: the invoice went out through the login, the
    # commands were audited, Dagster kept its events, logs and captured output.
    assert [message["To"] for message in mailbox.messages] == [CUSTOMER]
    engine = make_engine(os.environ["BILLING_DATABASE_URL"])
    with engine.connect() as conn:
        audited = conn.execute(select(audit_log.c.subject)).scalars().all()
    engine.dispose()
    assert f"billing closeofday --date {CLOSE_DAY}" in audited and "billing init" in audited
    instance = DagsterInstance.get()
    records = _dagster_records(instance)
    assert sum(key.startswith("run ") for key in records) >= 4  # pricing refresh, feed, close of day, export
    if dagster_url:  # the runs above are in the PostgreSQL instance whose tables are scanned below
        assert "run_storage: PostgresRunStorage" in records["instance configuration"]
    captured = [path for path in (paths.home / "dagster" / "storage").rglob("*") if path.is_file()]
    assert captured, "no compute logs were captured: the scan of them would prove nothing"
    assert "comes first" in (logs / "dagster-runs.log").read_text(encoding="utf-8")  # the refusal, logged

    places: dict[str, str | bytes] = {f"output of command {n}": output for n, output in enumerate(outputs)}
    places |= records | _tables(os.environ["BILLING_DATABASE_URL"], "billing") | _tables(warehouse_url, "warehouse")
    places |= _files(paths.home, logs) | {f"mail {n}": message.as_bytes() for n, message in enumerate(mailbox.messages)}
    if dagster_url:
        places |= _tables(dagster_url, "dagster")
    leaks = [(variable, where) for where, content in places.items() for variable, secret in secrets.items()
             if (secret.encode() if isinstance(content, bytes) else secret) in content]
    assert not leaks, "\n".join(f"{variable} in {where}" for variable, where in leaks)
    if dagster_url:
        assert "postgres:***@" in outputs[0]  # `billing init` names the database, its password masked

    # Private whatever the umask: $BILLING_HOME, its folders and $DAGSTER_HOME 0o700, the
    # SQLite database and its -wal and -shm 0o600 — and so everything directly in $BILLING_HOME.
    for folder in (*paths.folders, paths.home / "dagster"):
        assert _mode(folder) == 0o700, folder
    engine = make_engine(os.environ["BILLING_DATABASE_URL"])
    with engine.connect():  # an open connection keeps SQLite's -wal and -shm files there to look at
        entries = {path.name: _mode(path) for path in paths.home.iterdir()}
    engine.dispose()
    assert {name for name, mode in entries.items() if mode not in (0o700, 0o600)} == set()
    if not dagster_url:
        assert {name: entries[name] for name in entries if name.startswith("billing.db")} == {
            "billing.db": 0o600, "billing.db-wal": 0o600, "billing.db-shm": 0o600}
    assert paths.exposed() == []


def test_the_ui_sees_the_secrets_variables_never_their_values(tmp_path):
    """The Definitions as the webserver gets them from the code server (the repository
    snapshot, whose resource page shows each configured value): loaded where the secrets are
    set, each secret field names its variable, and no value is anywhere in the snapshot."""
    values = {"BILLING_DATABASE_URL": f"postgresql://billing:{DATABASE_PASSWORD}@db.example/billing",
              "BILLING_SMTP_PASSWORD": SMTP_PASSWORD,
              "BILLING_WAREHOUSE_URL": f"postgresql://edw:{WAREHOUSE_PASSWORD}@edw.example/edw"}
    program = (
        "import json\n"
        "from dagster._core.remote_representation.external_data import RepositorySnap, ResourceConfigEnvVarSnap\n"
        "from dagster_shared.serdes import serialize_value\n"
        "from definitions import defs\n"
        "snap = RepositorySnap.from_def(defs.get_repository_def())\n"
        "print(json.dumps({'values': {r.name: {k: {'env': v.name} if isinstance(v, ResourceConfigEnvVarSnap) else v\n"
        "                                      for k, v in r.configured_values.items()} for r in snap.resources},\n"
        "                  'snapshot': serialize_value(snap), 'repr': repr(defs.resources)}))\n")
    loaded = subprocess.run([sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**os.environ, **values, "BILLING_HOME": str(tmp_path / "home"),
                                 "PYTHONPATH": str(REPO)})
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    shown = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert shown["values"]["database"]["url"] == {"env": "BILLING_DATABASE_URL"}
    assert shown["values"]["notifier"]["smtp_password"] == {"env": "BILLING_SMTP_PASSWORD"}
    assert shown["values"]["warehouse"]["url"] == {"env": "BILLING_WAREHOUSE_URL"}
    for secret in (DATABASE_PASSWORD, SMTP_PASSWORD, WAREHOUSE_PASSWORD):
        assert secret not in shown["snapshot"] and secret not in shown["repr"]


def test_the_celery_executor_names_its_broker_variable(monkeypatch):
    """A broker URL with a password goes into the jobs' executor config as its variable,
    resolved by each run; the workers' app gets the value."""
    from jobs.executors import CelerySettings, celery_job_executor

    broker = f"pyamqp://billing:{SMTP_PASSWORD}@broker.example:5672//"
    monkeypatch.setenv("BILLING_CELERY_BROKER", broker)
    monkeypatch.delenv("BILLING_CELERY_BACKEND", raising=False)
    settings = CelerySettings.from_environment()
    assert settings.executor_config()["broker"] == {"env": "BILLING_CELERY_BROKER"}
    assert settings.executor_config()["backend"] == "rpc://"  # the default: no variable to name
    assert settings.app_config()["broker"] == broker
    resolved = celery_job_executor(settings).config_schema.resolve_config({})
    assert resolved.success and resolved.value["config"]["broker"] == broker  # what a run gets


def test_urls_are_shown_without_their_password():
    assert display_url("postgresql://billing:s3cret@db.example:5432/billing") == (
        "postgresql://billing:***@db.example:5432/billing")
    assert display_url("sqlite:////srv/billing/billing.db") == "sqlite:////srv/billing/billing.db"
    assert "s3cret" not in display_url("postgresql//billing:s3cret@db.example/billing")  # does not parse
    # The warehouse refuses the billing database itself, whichever login its URL carries.
    assert same_database("postgresql://edw:other@db.example/billing",
                         "postgresql+psycopg2://billing:s3cret@db.example/billing")
    assert not same_database("postgresql://edw:s3cret@db.example/edw", "postgresql://billing:s3cret@db.example/billing")
    # … however the server is written: the loopback host, the default port, a local socket
    assert same_database("postgresql://edw@localhost/billing", "postgresql://billing@127.0.0.1:5432/billing")
    assert same_database("postgresql://edw@/billing", "postgresql://billing@LOCALHOST:5432/billing")
    assert not same_database("postgresql://edw@localhost:5433/billing", "postgresql://billing@127.0.0.1/billing")
    assert not same_database("postgresql://edw@db.example/billing", "postgresql://billing@127.0.0.1/billing")


def test_a_sqlite_file_is_the_same_database_however_its_path_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert same_database("sqlite:///billing.db", f"sqlite:///{tmp_path / 'billing.db'}")
    assert same_database("sqlite:///./data/../billing.db", f"sqlite:///{tmp_path / 'billing.db'}")
    assert not same_database("sqlite:///edw.db", f"sqlite:///{tmp_path / 'billing.db'}")


def test_billing_init_makes_billing_home_private_and_warns_of_one_left_open(tmp_path, monkeypatch, permissive_umask):
    monkeypatch.setenv("BILLING_DATABASE_URL", f"sqlite:///{tmp_path / 'billing.db'}")
    monkeypatch.setenv("BILLING_HOME", str(tmp_path / "new" / "home"))
    assert "warning" not in _cli("init")
    assert {_mode(folder) for folder in BillingPaths(tmp_path / "new" / "home").folders} == {0o700}
    assert _mode(tmp_path / "new") == 0o700  # a parent it had to create too
    assert _mode(tmp_path / "billing.db") == 0o600

    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    (shared / "inbox").mkdir(mode=0o777)
    monkeypatch.setenv("BILLING_HOME", str(shared))
    result = CliRunner().invoke(main, ["init"])
    assert result.exit_code == 0
    assert f"warning: any user of this machine may open {shared}, {shared / 'inbox'}, which hold" in result.output
    assert _mode(shared / "archive") == 0o700  # what it creates is private; what it found is left alone


def test_a_login_crosses_the_network_only_over_starttls():
    """The SMTP password is never sent in clear: a login to a server on another machine
    without STARTTLS is refused before anything is connected (a connection attempt to the
    unresolvable host would raise OSError instead), and a server that does not offer STARTTLS
    fails the send rather than taking a plain login."""
    import smtplib

    from billing.notify import SmtpNotifier, text_message

    message = text_message("invoice", "u1@example.com", "invoice-1", "body")
    remote = SmtpNotifier("smtp.example.com", 587, username="billing", password="s3cret-smtp")
    with pytest.raises(smtplib.SMTPException, match="set BILLING_SMTP_STARTTLS=Y") as refused:
        remote.send(message, "invoice-1")
    assert "s3cret-smtp" not in str(refused.value)

    port = free_port()
    with serving(Mailbox(), port) as mailbox:
        with pytest.raises(smtplib.SMTPNotSupportedError, match="STARTTLS"):
            SmtpNotifier("127.0.0.1", port, username="billing", password="s3cret-smtp", starttls=True).send(
                message, "invoice-1")
        SmtpNotifier("127.0.0.1", port).send(message, "invoice-1")  # a local relay, no login: as before
    assert [m["Message-ID"] for m in mailbox.messages] == ["<invoice-1@billing.local>"]
