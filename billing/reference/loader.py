"""Load the reference data folder of DESIGN §4.4 (``billing reference load DIR``).

A folder is taken whole or not at all: every file is read and checked first, every problem
is collected (an administrator fixes them in one go), and only a folder without any problem
is written — in one transaction, one upsert per file, then one ``reference_load`` row that
versions it. Codes are checked against the folder *and* the database, because a folder may
carry only the files that changed.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Connection, Engine, select

from billing.db import schema
from billing.db.bulk import analyze
from billing.db.upsert import upsert
from billing.reference.pricing_changes import pricing_snapshot, record_pricing_changes
from billing.errors import ReferenceDataError
from billing.reference.spec import (
    FILES,
    PRICING_COMBINATIONS,
    RATE_TYPE_FIELDS,
    RESET_WHEN_STATUS_CHANGES,
    SPECS,
    TIERED_RATE_TYPES,
    Column,
    FileSpec,
    Kind,
)

_CHUNK = 500  # codes per IN (...) lookup, well under SQLite's bound-parameter limit
_RANK = {spec.filename: rank for rank, spec in enumerate(FILES)}
_FILENAMES = frozenset(_RANK)


@dataclass(frozen=True)
class ReferenceLoadReport:
    load_id: int
    content_hash: str
    row_counts: dict[str, int]  # file stem -> rows upserted
    pricing_changes: int = 0  # price assignments added or changed (see billing.reference.pricing_changes)


@dataclass(frozen=True)
class Problem:
    """One thing wrong, located as precisely as it can be: file, line, column."""

    file: str
    text: str
    line: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.column is not None:
            where += f", column {self.column}"
        return f"{where}: {self.text}"

    def order(self) -> tuple[int, int]:
        return _RANK.get(self.file, len(_RANK)), self.line or 0


@dataclass
class Row:
    line: int
    raw: dict[str, str]  # stripped cells by column name, as written
    values: dict[str, object] = field(default_factory=dict)  # parsed; None = empty cell
    ok: bool = True  # every column present and parsed


@dataclass
class ParsedFile:
    spec: FileSpec
    rows: list[Row]


def load_reference(engine: Engine, folder: Path) -> ReferenceLoadReport:
    """Validate every file of ``folder``, then upsert them all; raise ReferenceDataError."""
    sources, problems = _read_folder(Path(folder))
    parsed: dict[str, ParsedFile] = {}
    for name, data in sources.items():
        rows, file_problems = _parse_file(SPECS[name], data)
        parsed[name] = ParsedFile(SPECS[name], rows)
        problems += file_problems
    with engine.begin() as conn:
        problems += _reference_problems(conn, parsed)
        problems += _tier_problems(conn, parsed)
        if problems:
            raise ReferenceDataError([str(p) for p in sorted(problems, key=Problem.order)])
        return _write(conn, sources, parsed)


def _read_folder(folder: Path) -> tuple[dict[str, bytes], list[Problem]]:
    if not folder.is_dir():
        return {}, [Problem(str(folder), "not a folder; give the reference data folder")]
    sources, problems = {}, []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() == ".csv" and p.is_file()):
        if path.name in _FILENAMES:
            sources[path.stem] = path.read_bytes()
        else:
            allowed = ", ".join(spec.filename for spec in FILES)
            problems.append(Problem(path.name, f"unknown reference file (allowed: {allowed})"))
    if not sources and not problems:
        problems.append(Problem(str(folder), "no reference files (*.csv) in this folder"))
    return sources, problems


def _parse_file(spec: FileSpec, data: bytes) -> tuple[list[Row], list[Problem]]:
    data = data.removeprefix(codecs.BOM_UTF8)  # spreadsheets often save UTF-8 with a BOM
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start]
        reason = f"not valid UTF-8 (byte 0x{byte:02x}); save the file as UTF-8"
        return [], [Problem(spec.filename, reason, line)]
    if "\0" in text:  # no text column holds it: a UTF-16 or binary file
        line = text[: text.index("\0")].count("\n") + 1
        reason = "holds a NUL character, so it is not UTF-8 text; save the file as UTF-8"
        return [], [Problem(spec.filename, reason, line)]
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[Problem] = []
    rows: list[Row] = []
    try:
        header = [name.strip() for name in next(reader, [])]
        problems += _header_problems(spec, header)
        complete = set(spec.column_names) <= set(header)
        line = reader.line_num + 1
        for cells in reader:
            cells = [cell.strip() for cell in cells]
            if any(cells):  # blank lines carry no data
                row, row_problems = _parse_row(spec, header, cells, line, complete)
                rows.append(row)
                problems += row_problems
            line = reader.line_num + 1
    except csv.Error as exc:
        problems.append(Problem(spec.filename, f"not readable as CSV: {exc}", reader.line_num))
    problems += _duplicate_keys(spec, rows)
    return rows, problems


def _header_problems(spec: FileSpec, header: list[str]) -> list[Problem]:
    expected = ", ".join(spec.column_names)
    problems = [
        Problem(spec.filename, f"missing column (the header must name: {expected})", 1, name)
        for name in spec.column_names
        if name not in header
    ]
    seen: set[str] = set()
    for name in header:
        if name in seen:
            problems.append(Problem(spec.filename, "column named twice in the header", 1, name))
        elif spec.column(name) is None:
            reason = f"unknown column (allowed: {expected})"
            problems.append(Problem(spec.filename, reason, 1, name))
        seen.add(name)
    return problems


def _parse_row(
    spec: FileSpec, header: list[str], cells: list[str], line: int, complete: bool
) -> tuple[Row, list[Problem]]:
    row = Row(line, dict(zip(header, cells)), ok=complete)
    where = spec.filename
    problems = []
    if len(cells) != len(header):
        reason = f"{len(cells)} cells but the header has {len(header)} columns"
        problems.append(Problem(where, reason, line))
        row.ok = False
    for name, cell in row.raw.items():
        column = spec.column(name)
        if column is None:
            continue
        try:
            row.values[name] = _cell_value(spec, column, cell)
        except ValueError as exc:
            problems.append(Problem(where, str(exc), line, name))
            row.ok = False
    if row.ok:
        problems += [Problem(where, text, line, name) for name, text in _row_rules(spec, row)]
    return row, problems


def _cell_value(spec: FileSpec, column: Column, cell: str) -> object:
    if not cell:
        if column.required:
            raise ValueError("required, must not be empty")
        return None
    if column.kind is Kind.TEXT:
        length = schema.metadata.tables[spec.name].c[column.name].type.length
        if len(cell) > length:  # PostgreSQL would refuse it mid-load
            raise ValueError(f"'{cell}' is {len(cell)} characters long (at most {length})")
    return column.parse(cell)


def _row_rules(spec: FileSpec, row: Row) -> list[tuple[str, str]]:
    """(column, problem) for the rules that involve more than one cell of a row."""
    found = []
    for first, second in spec.ordered:
        a, b = row.values[first], row.values[second]
        if a is not None and b is not None and a > b:
            word, rule = ("after", "on or before") if isinstance(a, date) else ("above", "at most")
            found.append((first, f"{first} {a} is {word} {second} {b}; it must be {rule} it"))
    if spec.name == "pricing":
        found += _pricing_rules(row.values)
    if spec.name == "rule_legs":
        found += _rule_leg_rules(row.values)
    return found


def _pricing_rules(values: dict) -> list[tuple[str, str]]:
    found = []
    combination = (values["ignore_txn"], values["aggregate_txn"], values["rating_criteria"])
    ignore, aggregate, criteria = combination
    if not any((i, a or aggregate, c) == combination for i, a, c in PRICING_COMBINATIONS):
        allowed = ", ".join(f"{i}/{a or 'any'}/{c}" for i, a, c in PRICING_COMBINATIONS)
        found.append((
            "rating_criteria",
            f"ignore_txn={ignore}, aggregate_txn={aggregate}, rating_criteria={criteria} is not "
            f"a valid combination (allowed ignore_txn/aggregate_txn/rating_criteria: {allowed})",
        ))
    if aggregate == "Y" and values["aggregation_schedule_cd"] is None:
        found.append(("aggregation_schedule_cd", "required when aggregate_txn is Y"))
    for name in RATE_TYPE_FIELDS.get(values["rate_type"], ()):
        if values[name] is None:
            found.append((name, f"required when rate_type is {values['rate_type']}"))
    return found


def _rule_leg_rules(values: dict) -> list[tuple[str, str]]:
    basis, fixed = values["account_basis"], values["fixed_account_id"]
    if basis == "FIXED" and fixed is None:
        return [("fixed_account_id", "required when account_basis is FIXED")]
    if basis != "FIXED" and fixed is not None:
        reason = f"must be empty when account_basis is {basis}; only FIXED names an account"
        return [("fixed_account_id", reason)]
    return []


def _duplicate_keys(spec: FileSpec, rows: list[Row]) -> list[Problem]:
    first_line: dict[tuple, int] = {}
    problems = []
    for row in rows:
        if not all(row.values.get(name) is not None for name in spec.key):
            continue  # already reported: missing or unparseable key cell
        key = tuple(row.values[name] for name in spec.key)
        if key in first_line:
            shown = ", ".join(f"{n}={row.raw[n]}" for n in spec.key)
            reason = f"duplicate key {shown} (first on line {first_line[key]})"
            problems.append(Problem(spec.filename, reason, row.line, "+".join(spec.key)))
        first_line.setdefault(key, row.line)
    return problems


def _reference_problems(conn: Connection, parsed: dict[str, ParsedFile]) -> list[Problem]:
    problems = []
    for pf in parsed.values():
        for ref in pf.spec.references:
            uses = [
                (row.line, row.raw[ref.column])
                for row in pf.rows
                if row.raw.get(ref.column)
                and (ref.when is None or row.raw.get(ref.when[0]) == ref.when[1])
            ]
            target = parsed.get(ref.target)
            known = {row.raw.get(ref.target_column) for row in target.rows} if target else set()
            column = schema.metadata.tables[ref.target].c[ref.target_column]
            known |= _existing(conn, column, {value for _, value in uses} - known)
            problems += [
                Problem(
                    pf.spec.filename,
                    f"unknown {ref.noun} '{value}' (not in {ref.target}.csv nor in the database)",
                    line,
                    ref.column,
                )
                for line, value in uses
                if value not in known
            ]
    return problems


def _existing(conn: Connection, column, values: set) -> set:
    """Those of ``values`` that ``column`` holds in the database."""
    return {row[0] for row in _select_in(conn, [column], column, values)}


def _select_in(conn: Connection, columns: list, column, values: set) -> list:
    ordered = sorted(values)
    rows = []
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        rows += conn.execute(select(*columns).distinct().where(column.in_(chunk))).all()
    return rows


def _tier_problems(conn: Connection, parsed: dict[str, ParsedFile]) -> list[Problem]:
    """Tier rules, over the tiers a price assignment will have once the folder is loaded."""
    rows = parsed["pricing_tiers"].rows if "pricing_tiers" in parsed else []
    folder_ids = {row.raw.get("price_assignment_id") for row in rows} - {None, ""}
    table = schema.pricing_tiers
    columns = [table.c.price_assignment_id, table.c.tier_seq, table.c.up_to]
    tiers: dict[str, dict[int, tuple[Decimal | None, int | None]]] = defaultdict(dict)
    for pa_id, seq, up_to in _select_in(conn, columns, table.c.price_assignment_id, folder_ids):
        tiers[pa_id][seq] = (up_to, None)
    for row in rows:
        if row.ok:  # the folder's tier replaces the stored one of the same key
            pa_id, seq = row.values["price_assignment_id"], row.values["tier_seq"]
            tiers[pa_id][seq] = (row.values["up_to"], row.line)
    problems = [
        Problem("pricing_tiers.csv", text, line, "up_to")
        for tiers_of_id in tiers.values()
        for line, text in _tier_order(tiers_of_id)
    ]
    return problems + _missing_tiers(conn, parsed.get("pricing"), folder_ids)


def _tier_order(tiers: dict[int, tuple[Decimal | None, int | None]]) -> list[tuple[int, str]]:
    """(line, problem) where up_to does not rise strictly, an empty up_to is not last, or the
    last tier has a limit."""
    found = []
    ordered = sorted(tiers.items())
    for (prev_seq, (prev_up, prev_line)), (seq, (up_to, line)) in zip(ordered, ordered[1:]):
        if prev_line is None and line is None:
            continue  # both already in the database, checked when they were loaded
        prev = f"tier {prev_seq} " + (f"(line {prev_line})" if prev_line else "(in the database)")
        if prev_up is None:
            found.append((
                prev_line or line,
                f"{prev} has an empty up_to but is followed by tier {seq}; "
                "only the last tier may leave up_to empty",
            ))
        elif up_to is not None and up_to <= prev_up:
            found.append((
                line or prev_line,
                f"up_to {up_to} of tier {seq} is not above the up_to {prev_up} of {prev}; "
                "up_to must rise strictly with tier_seq",
            ))
    last_seq, (last_up, last_line) = ordered[-1]
    if last_up is not None and last_line is not None:
        found.append((
            last_line,
            f"tier {last_seq} is the last tier but has up_to {last_up}; the last tier must leave up_to empty "
            "(no limit), so that every quantity has a price",
        ))
    return found


def _missing_tiers(conn: Connection, pricing: ParsedFile | None, folder_ids: set) -> list[Problem]:
    needing = {
        row.values["price_assignment_id"]: row
        for row in (pricing.rows if pricing else [])
        if row.ok and row.values["rate_type"] in TIERED_RATE_TYPES
    }
    column = schema.pricing_tiers.c.price_assignment_id
    known = folder_ids | _existing(conn, column, set(needing) - folder_ids)
    return [
        Problem(
            "pricing.csv",
            f"rate_type {row.values['rate_type']} needs at least one row for price assignment "
            f"'{pa_id}' in pricing_tiers.csv or the database; there is none",
            row.line,
            "rate_type",
        )
        for pa_id, row in needing.items()
        if pa_id not in known
    ]


def _write(
    conn: Connection, sources: dict[str, bytes], parsed: dict[str, ParsedFile]
) -> ReferenceLoadReport:
    repriced = {row.values["price_assignment_id"] for name in ("pricing", "pricing_tiers") if name in parsed
                for row in parsed[name].rows}
    before = pricing_snapshot(conn, repriced)
    row_counts = {}
    for name, pf in parsed.items():
        table = schema.metadata.tables[name]
        upsert(conn, table, [row.values for row in pf.rows], reset_on_status_change=RESET_WHEN_STATUS_CHANGES.get(name, ()))
        # The aggregation joins these to hundreds of thousands of legs: without statistics
        # (a fresh load, before autovacuum comes by) PostgreSQL guesses their size and picks
        # nested loops (a problem check of C1-TXNIP: 3 s → 9 s on a wrong guess).
        analyze(conn, table)
        row_counts[name] = len(pf.rows)
    content_hash = _content_hash(sources)
    result = conn.execute(
        schema.reference_load.insert().values(
            loaded_at=datetime.now(timezone.utc),
            content_hash=content_hash,
            files=",".join(sorted(SPECS[name].filename for name in sources)),
            row_counts=json.dumps(row_counts, sort_keys=True),
        )
    )
    load_id = result.inserted_primary_key[0]
    changes = record_pricing_changes(conn, load_id, repriced, before)
    return ReferenceLoadReport(load_id, content_hash, row_counts, changes)


def _content_hash(sources: dict[str, bytes]) -> str:
    """sha256 over the sorted file names and their bytes (lengths keep the framing unambiguous)."""
    digest = hashlib.sha256()
    for filename, data in sorted((SPECS[name].filename, data) for name, data in sources.items()):
        digest.update(f"{filename}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()
