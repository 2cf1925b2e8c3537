"""The security roles as the command line enforces them, and the audit trail: every command
with its outcome, refused attempts, and the configuration file in force each time it changes."""

import os

import click
import yaml
from click.testing import CliRunner

from billing.cli import main
from billing.db.schema import audit_log
from billing.operations.config import SHIPPED
from billing.operations.security import COMMAND_PERMISSIONS
from tests.world import rows, write_reference


def _billing(*args, role=None):
    return CliRunner().invoke(main, list(args), env={"BILLING_ROLE": role, "BILLING_OPERATOR": "jdoe"})


def _trail(engine):
    return rows(engine, audit_log, "audit_id", "actor", "role", "event", "subject", "outcome")


def test_every_command_needs_a_named_permission():
    def leaves(group: click.Group, prefix=""):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from leaves(command, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}"

    assert set(leaves(main)) == set(COMMAND_PERMISSIONS)


def test_a_role_runs_what_its_permissions_allow_and_every_attempt_is_audited(engine, billing_home, tmp_path):
    reference = write_reference(tmp_path / "reference")
    refused = _billing("reference", "load", str(reference), role="billing_administrator")  # execute, monitor
    assert refused.exit_code == 2
    assert ("role billing_administrator may not run `billing reference load`: it needs the configure permission, "
            "which batch_administrator, system_administrator have") in refused.output
    assert _billing("status", role="billing_administrator").exit_code == 0
    loaded = _billing("reference", "load", str(reference), "--no-disaggregate", role="batch_administrator")
    assert loaded.exit_code == 0, loaded.output
    unknown = _billing("status", role="intern")
    assert unknown.exit_code == 2 and "BILLING_ROLE=intern is not a role of security.batch_execution_permissions" in (
        unknown.output)
    assert _billing("status").exit_code == 0  # no BILLING_ROLE: a single-user installation, nothing refused

    trail = [entry[1:] for entry in _trail(engine)]
    assert trail[0] == ("jdoe", None, "configuration_changes", os.environ["BILLING_CONFIG"], "IN_FORCE")  # first seen
    load = f"billing reference load {reference} --no-disaggregate"
    assert trail[1:] == [
        ("jdoe", "billing_administrator", "access_attempts", f"billing reference load {reference}", "REFUSED"),
        ("jdoe", "billing_administrator", "operator_command", "billing status", "STARTED"),
        ("jdoe", "billing_administrator", "operator_command", "billing status", "OK"),
        ("jdoe", "batch_administrator", "operator_command", load, "STARTED"),
        ("jdoe", "batch_administrator", "operator_command", load, "OK"),
        ("jdoe", "intern", "access_attempts", "billing status", "REFUSED"),
        ("jdoe", None, "operator_command", "billing status", "STARTED"),
        ("jdoe", None, "operator_command", "billing status", "OK"),
    ]


def test_a_changed_configuration_is_audited_once(engine, billing_home, monkeypatch, tmp_path):
    assert _billing("status").exit_code == 0
    assert _billing("status").exit_code == 0  # the same file: not noted again
    values = yaml.safe_load(SHIPPED.read_text())
    values["resource_limits"]["concurrent_processes"]["max_parallel_batches"] = 4
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(values))
    monkeypatch.setenv("BILLING_CONFIG", str(changed))
    assert _billing("status").exit_code == 0
    noted = [(subject, outcome) for _, _, _, event, subject, outcome in _trail(engine)
             if event == "configuration_changes"]
    assert len(noted) == 2 and noted[1] == (str(changed), "IN_FORCE")
    values["data_security"]["audit_logging"]["enabled"] = False
    changed.write_text(yaml.safe_dump(values))
    before = len(_trail(engine))
    assert _billing("status").exit_code == 0
    assert len(_trail(engine)) == before  # audit logging off: nothing written


def test_a_failed_command_is_audited_as_failed(engine, billing_home):
    failed = _billing("invoice", "preview", "NOPE")
    assert failed.exit_code == 2
    process = f"process {os.getpid()}"  # pairs the two among concurrent commands
    trail = rows(engine, audit_log, "audit_id", "event", "subject", "outcome", "detail")
    assert [entry[1:] for entry in trail[-2:]] == [
        ("operator_command", "billing invoice preview NOPE", "STARTED", process),
        ("operator_command", "billing invoice preview NOPE", "FAILED", process),
    ]


def test_audit_events_left_out_of_the_list_are_not_recorded(engine, billing_home, monkeypatch, tmp_path):
    values = yaml.safe_load(SHIPPED.read_text())
    values["data_security"]["audit_logging"]["audit_events"] = ["batch_execution_start", "batch_execution_end"]
    config = tmp_path / "no_access_attempts.yaml"
    config.write_text(yaml.safe_dump(values))
    monkeypatch.setenv("BILLING_CONFIG", str(config))
    assert _billing("init", role="billing_administrator").exit_code == 2  # refused: needs configure
    assert _billing("status", role="billing_administrator").exit_code == 0
    # Neither the refused attempt nor the configuration in force: only the command.
    assert [entry[3:] for entry in _trail(engine)] == [("operator_command", "billing status", "STARTED"),
                                                       ("operator_command", "billing status", "OK")]
