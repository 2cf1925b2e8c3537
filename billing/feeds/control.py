"""The control file of a feed, and the feed's identity (its ``header_id``).

A control file names its data file and carries the totals the header validation checks.
The ``header_id`` is also the feed's Dagster partition key: readable (source and external
header id) and unique per upload yet stable for the same bytes (a hash of both files), so
re-dropping the same feed is recognised as the same partition.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from billing.db.schema import TXN_ID_FEED_FACTOR, txn_header
from billing.errors import FeedRejected

CONTROL_SUFFIX = ".ctl.json"
REQUIRED_KEYS = (
    "external_header_id",
    "header_date",
    "source",
    "division",
    "record_count",
    "total_amount",
    "total_volume",
    "data_file",
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_HASH_CHARS = 10
# What the feed's header row can hold (PostgreSQL refuses longer text, and any NUL character).
_TEXT_LIMITS = {
    "external_header_id": txn_header.c.external_header_id.type.length,
    "source": txn_header.c.txn_source_cd.type.length,
    "division": txn_header.c.division_cd.type.length,
    "data_file": txn_header.c.data_file.type.length,
}
_NAME_LIMIT = txn_header.c.control_file.type.length
_TOTAL_DIGITS = 30  # digits before, and after, the decimal point of a control total


@dataclass(frozen=True)
class ControlFile:
    path: Path
    external_header_id: str
    header_date: date
    source: str
    division: str
    record_count: int
    total_amount: Decimal
    total_volume: Decimal
    data_file: str

    @property
    def data_path(self) -> Path:
        return self.path.parent / self.data_file

    @property
    def name(self) -> str:
        return self.path.name[: -len(CONTROL_SUFFIX)]


def read_control(path: Path) -> ControlFile:
    """Parse and check a control file; :class:`FeedRejected` says what is wrong with it."""
    if len(path.name) > _NAME_LIMIT:
        raise FeedRejected(f"control file {path.name} has a name of more than {_NAME_LIMIT} characters: rename it")
    try:
        document = json.loads(path.read_bytes().decode("utf-8"), parse_float=Decimal)
    except UnicodeDecodeError:
        raise FeedRejected(f"control file {path.name} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise FeedRejected(f"control file {path.name} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise FeedRejected(f"control file {path.name} is not a control file: its JSON is nested too deeply") from None
    except ValueError:  # an integer of more digits than int() converts
        raise FeedRejected(f"control file {path.name} is not a control file: it holds a number of more than "
                           f"{sys.get_int_max_str_digits()} digits") from None
    if not isinstance(document, dict):
        raise FeedRejected(f"control file {path.name} must hold a JSON object")
    missing = [key for key in REQUIRED_KEYS if document.get(key) in (None, "")]
    if missing:
        raise FeedRejected(f"control file {path.name} lacks {', '.join(missing)}")
    problems: list[str] = []
    header_date = _field(problems, "header_date", lambda v: date.fromisoformat(str(v)), document)
    record_count = _field(problems, "record_count", _count, document)
    total_amount = _field(problems, "total_amount", _decimal, document)
    total_volume = _field(problems, "total_volume", _decimal, document)
    for key, limit in _TEXT_LIMITS.items():
        value = document[key]
        if isinstance(value, (dict, list)):
            problems.append(f"{key} must be text, not a JSON {'object' if isinstance(value, dict) else 'array'}")
        elif "\0" in str(value):
            problems.append(f"{key} must not contain a NUL character")
        elif len(str(value)) > limit:
            problems.append(f"{key} is longer than {limit} characters")
    data_file = str(document["data_file"])
    if Path(data_file).name != data_file or data_file in (".", ".."):
        problems.append(f"data_file {data_file!r} must be a plain file name in the control file's folder")
    elif data_file.endswith(CONTROL_SUFFIX):  # the sensor would take it for a control file
        problems.append(f"data_file {data_file!r} is named like a control file: name the data file NAME.csv")
    if problems:
        raise FeedRejected(f"control file {path.name}: " + "; ".join(problems))
    control = ControlFile(
        path=path,
        external_header_id=str(document["external_header_id"]),
        header_date=header_date,
        source=str(document["source"]),
        division=str(document["division"]),
        record_count=record_count,
        total_amount=total_amount,
        total_volume=total_volume,
        data_file=data_file,
    )
    try:
        present = control.data_path.is_file()
    except OSError:  # a name the file system cannot hold (too long)
        present = False
    if not present:
        raise FeedRejected(f"data file {data_file} named by control file {path.name} is missing")
    return control


def _field(problems: list[str], key: str, parse, document: dict):
    try:
        return parse(document[key])
    except (ValueError, TypeError, InvalidOperation):
        problems.append(f"{key} {document[key]!r} is not valid")
        return None


def _count(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not 0 <= int(value) < TXN_ID_FEED_FACTOR:
        raise ValueError(value)
    return int(value)


def _decimal(value) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(value)
    number = Decimal(str(value))
    if not number.is_finite() or number.adjusted() >= _TOTAL_DIGITS or number.as_tuple().exponent < -_TOTAL_DIGITS:
        raise ValueError(value)  # 1E+999999999 would be a billion digits written out
    return number


def content_hash(control: ControlFile) -> str:
    """SHA-256 over the control file's bytes and the data file's bytes."""
    digest = hashlib.sha256(control.path.read_bytes())
    digest.update(b"\0")
    with control.data_path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def feed_key(control: ControlFile, digest: str) -> str:
    """The feed's ``header_id`` and partition key: ``SOURCE-EXTERNALID-hash``."""
    readable = f"{_UNSAFE.sub('_', control.source)}-{_UNSAFE.sub('_', control.external_header_id)}"
    return f"{readable[:100]}-{digest[:_HASH_CHARS]}"
