"""Read a feed's data file into staging rows, a bounded chunk at a time.

Every data row becomes exactly one staging row. A row that cannot be parsed is kept — its
raw text in ``raw_record`` and the reasons in ``parse_error`` — and becomes ``INVL`` in
C1-TXNIP; nothing is dropped silently. Parsing is vectorised over each chunk with pandas;
values stay text (decimals in canonical form) so no number ever passes through a float.
A file that cannot be read at all (not UTF-8, a NUL byte, missing or repeated columns) raises
:class:`~billing.errors.FeedRejected` naming the file and the reason.
"""

from __future__ import annotations

import csv
import io
from json.encoder import encode_basestring
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from billing.db.schema import txn_detail_stg
from billing.errors import FeedRejected

REQUIRED_COLUMNS = ("external_txn_id", "txn_datetime", "account_id", "product_code", "currency", "amount", "volume")
OPTIONAL_COLUMNS = ("channel", "reference")
DEFAULT_CHUNK_ROWS = 50_000

# [0-9], not \d: \d also matches other scripts' digits (Arabic-Indic ٣), which no database reads as a number.
_ISO_DATETIME = (r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
                 r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?")
_DECIMAL = r"[+-]?(?:[0-9]{1,18}(?:\.[0-9]{0,12})?|\.[0-9]{1,12})"
_CURRENCY = r"[A-Za-z]{3}"

_STAGED_NAME = {"txn_datetime": "txn_dttm"}
# Text cells longer than their staging column are a row problem, not a failed bulk load.
_TEXT_LIMITS = {
    name: txn_detail_stg.c[_STAGED_NAME.get(name, name)].type.length
    for name in ("external_txn_id", "txn_datetime", "account_id", "product_code", "currency", "channel", "reference")
}

STAGING_COLUMNS = (
    "row_no",
    "external_txn_id",
    "txn_dttm",
    "txn_dt",
    "account_id",
    "product_code",
    "currency",
    "amount",
    "volume",
    "channel",
    "reference",
    "attributes",
    "raw_record",
    "parse_error",
)


def read_feed(path: Path, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield DataFrames with :data:`STAGING_COLUMNS`, ``chunk_rows`` data rows at most each."""
    _check_no_nul(path)
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        try:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            _check_header(path, header)
            chunk: list[list[str]] = []
            row_no = 0
            first_row = 1
            for fields in reader:
                if not fields or fields == [""]:
                    continue  # a blank line is not a record
                row_no += 1
                chunk.append(fields)
                if len(chunk) >= chunk_rows:
                    yield _parse_chunk(header, chunk, first_row)
                    first_row, chunk = row_no + 1, []
            if chunk:
                yield _parse_chunk(header, chunk, first_row)
        except UnicodeDecodeError as exc:
            raise FeedRejected(f"data file {path.name} is not UTF-8 text (byte {exc.start} of a block is invalid)") from None
        except csv.Error as exc:
            raise FeedRejected(f"data file {path.name} is not readable CSV: {exc}") from None


def read_ahead(chunks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Yield ``chunks``, the next one being parsed in a thread while the caller loads the
    current one: parsing and the database's COPY overlap (two chunks in memory at most)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="feed-read-ahead") as pool:
        coming = pool.submit(next, chunks, None)
        while (chunk := coming.result()) is not None:
            coming = pool.submit(next, chunks, None)
            yield chunk


def _check_no_nul(path: Path) -> None:
    """A NUL byte makes no CSV text (it is a UTF-16 or binary file) and no text column holds it."""
    line = 1
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            at = block.find(b"\0")
            if at >= 0:
                line += block.count(b"\n", 0, at)
                raise FeedRejected(
                    f"data file {path.name} holds a NUL byte on line {line}: it is not UTF-8 CSV text "
                    "(UTF-16? binary?); save it as UTF-8 CSV and submit it again"
                )
            line += block.count(b"\n")


def _check_header(path: Path, header: list[str]) -> None:
    if not any(header):
        raise FeedRejected(f"data file {path.name} is empty: it needs a header row")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise FeedRejected(f"data file {path.name} repeats column(s) {', '.join(repeated)}")
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise FeedRejected(
            f"data file {path.name} lacks required column(s) {', '.join(missing)} "
            f"(found: {', '.join(header)}); the required columns are {', '.join(REQUIRED_COLUMNS)}"
        )


def _parse_chunk(header: list[str], rows: list[list[str]], first_row: int) -> pd.DataFrame:
    width = len(header)
    row_no = pd.RangeIndex(first_row, first_row + len(rows))
    well_formed = [len(fields) == width for fields in rows]
    frame = pd.DataFrame(
        [fields if ok else [""] * width for fields, ok in zip(rows, well_formed)],
        columns=header,
        dtype="string",
        index=row_no,
    ).apply(lambda column: column.str.strip())
    errors = pd.Series("", index=row_no, dtype="string")

    def flag(mask: pd.Series, message: Callable[[pd.Series], pd.Series] | str) -> None:
        """Add a reason to the rows ``mask`` picks: ``message``, or ``message(mask)`` — their
        texts, built for those rows only (most rows have no problem)."""
        if not mask.any():
            return
        text = message if isinstance(message, str) else message(mask).fillna("")
        errors.loc[mask] = errors[mask] + "; " + text

    bad_shape = ~pd.Series(well_formed, index=row_no)
    counts = pd.Series([len(fields) for fields in rows], index=row_no).astype("string")
    flag(bad_shape, lambda rows: "row has " + counts[rows] + f" fields, the header has {width}")
    shaped = ~bad_shape
    for name in REQUIRED_COLUMNS:
        flag(shaped & (frame[name] == ""), f"{name} is empty")

    when = frame["txn_datetime"]
    txn_dt = pd.to_datetime(when.str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    bad_when = shaped & (when != "") & (~when.str.fullmatch(_ISO_DATETIME).fillna(False) | txn_dt.isna())
    flag(bad_when, lambda rows: "txn_datetime '" + when[rows] + "' is not an ISO 8601 date-time")
    for name in ("amount", "volume"):
        value = frame[name]
        flag(shaped & (value != "") & ~value.str.fullmatch(_DECIMAL).fillna(False),
             lambda rows, name=name, value=value: f"{name} '" + value[rows] + "' is not a decimal number")
    for name, limit in _TEXT_LIMITS.items():
        if name in frame:
            flag(shaped & (frame[name].str.len() > limit), f"{name} is longer than {limit} characters")
    currency = frame["currency"]
    flag(shaped & (currency != "") & ~currency.str.fullmatch(_CURRENCY).fillna(False),
         lambda rows: "currency '" + currency[rows] + "' is not a three-letter code")

    staged = pd.DataFrame(index=row_no)
    staged["row_no"] = row_no
    staged["external_txn_id"] = frame["external_txn_id"]
    staged["txn_dttm"] = when
    staged["txn_dt"] = txn_dt.dt.strftime("%Y-%m-%d").where(~bad_when)
    staged["account_id"] = frame["account_id"]
    staged["product_code"] = frame["product_code"]
    staged["currency"] = currency.str.upper()
    for name in ("amount", "volume"):
        staged[name] = frame[name].where(frame[name].str.fullmatch(_DECIMAL).fillna(False))
    for name in OPTIONAL_COLUMNS:
        staged[name] = frame[name] if name in frame else pd.NA
    staged["attributes"] = _attributes(frame, header)
    raw = [_raw(fields) if not ok else "" for fields, ok in zip(rows, well_formed)]  # only bad rows keep it
    staged["raw_record"] = pd.Series(raw, index=row_no).where(bad_shape)
    staged["parse_error"] = errors.str.removeprefix("; ").replace("", pd.NA)
    for name, limit in _TEXT_LIMITS.items():
        column = _STAGED_NAME.get(name, name)
        staged[column] = staged[column].where(~(staged[column].str.len() > limit))  # the row is INVL anyway
    staged = staged.replace("", pd.NA)
    staged.loc[bad_shape, [c for c in STAGING_COLUMNS if c not in ("row_no", "raw_record", "parse_error")]] = pd.NA
    return staged[list(STAGING_COLUMNS)]


def _attributes(frame: pd.DataFrame, header: list[str]) -> pd.Series:
    extra = [name for name in header if name not in REQUIRED_COLUMNS and name not in OPTIONAL_COLUMNS]
    if not extra:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    # The text of json.dumps({name: value, …}, ensure_ascii=False) for each row, built a column
    # at a time with json's own string encoder and separators (a dumps per row was half of the
    # parse time).
    text = None
    for name in extra:
        pair = encode_basestring(name) + ": " + frame[name].fillna("").map(encode_basestring).astype(object)
        text = pair if text is None else text + ", " + pair
    return pd.Series(("{" + text + "}").tolist(), index=frame.index)


def _raw(fields: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue()
