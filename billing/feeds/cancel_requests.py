"""Cancellation request files: ``NAME.cancel.json`` dropped in the inbox asks for a feed to be
cancelled, as ``billing feed cancel HEADER_ID`` does::

    {"header_id": "BANKA-B-000123-1a2b3c4d5e6f", "reason": "sent twice by the bank"}

The sensor reads it, files it with the feed's archive (``archive/<header_id>/``) when the run
is launched, or in quarantine with the reason when it cannot be (unreadable, unknown feed,
charges already invoiced).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from billing.errors import FeedRejected

CANCEL_SUFFIX = ".cancel.json"


@dataclass(frozen=True)
class CancelRequest:
    path: Path
    header_id: str
    reason: str


def read_cancel_request(path: Path) -> CancelRequest:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FeedRejected(f"cancellation request {path.name} is not readable JSON ({error}): write "
                           '{"header_id": "...", "reason": "..."} and drop it again') from None
    header_id = body.get("header_id") if isinstance(body, dict) else None
    if not isinstance(header_id, str) or not header_id.strip():
        raise FeedRejected(f"cancellation request {path.name} names no header_id: write "
                           '{"header_id": "...", "reason": "..."} and drop it again')
    reason = body.get("reason")
    return CancelRequest(path, header_id.strip(), reason if isinstance(reason, str) else "")


def scan_cancel_requests(inbox: Path) -> Iterator[tuple[Path, CancelRequest | FeedRejected]]:
    """Every cancellation request in the inbox, read, or with the reason it cannot be."""
    for path in sorted(p for p in inbox.glob(f"*{CANCEL_SUFFIX}") if p.is_file()):
        try:
            yield path, read_cancel_request(path)
        except FeedRejected as rejected:
            yield path, rejected
