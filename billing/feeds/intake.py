"""Staging a feed partition: find its files, upload them, file them away.

Used by the ``staged_feed`` asset and by the feed sensor. Upload first, move files after:
a crash in between leaves the files in the inbox and the header in the database, and the
re-run only moves the files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import Engine, select

from billing.db.schema import txn_header
from billing.errors import FeedRejected
from billing.feeds.control import CONTROL_SUFFIX
from billing.feeds.inbox import Feed, file_with_reason, find, identify, move_files, scan
from billing.settings import BillingPaths
from billing.tfm.upload import UploadResult, existing_upload, upload_feed


def waiting_feeds(paths: BillingPaths) -> dict[str, Feed]:
    """The readable feeds in the inbox by ``header_id``: read once for a run over many feeds."""
    return {found.header_id: found for _path, found in scan(paths.inbox) if isinstance(found, Feed)}


def locate(paths: BillingPaths, header_id: str, control_hint: str | None = None,
           waiting: Mapping[str, Feed] | None = None) -> Feed | None:
    """The feed's files: where the run was told they are, else in the inbox (``waiting``,
    when the caller has read it already)."""
    if control_hint and Path(control_hint).is_file():
        try:
            feed = identify(Path(control_hint))
        except FeedRejected:
            feed = None
        if feed is not None and feed.header_id == header_id:
            return feed
    return waiting.get(header_id) if waiting is not None else find(paths.inbox, header_id)


def stage_feed(engine: Engine, paths: BillingPaths, header_id: str, control_hint: str | None = None,
               waiting: Mapping[str, Feed] | None = None) -> UploadResult:
    feed = locate(paths, header_id, control_hint, waiting)
    if feed is None:
        existing = existing_upload(engine, header_id)
        if existing is not None:
            return existing
        raise FeedRejected(
            f"feed {header_id} is neither in the inbox {paths.inbox} nor uploaded: submit its files again "
            "(`billing feed submit DATA.csv CONTROL.ctl.json`)"
        )
    result = upload_feed(engine, feed)
    if rejected_at_upload(engine, header_id):
        file_with_reason(feed.files, paths.quarantine / header_id, result.message)
    else:
        move_files(feed.files, paths.archive / header_id)
    return result


def rejected_at_upload(engine: Engine, header_id: str) -> bool:
    """An ``INVL`` header that never reached header validation: its files were unreadable."""
    with engine.connect() as conn:
        row = conn.execute(
            select(txn_header.c.status, txn_header.c.file_record_count).where(txn_header.c.header_id == header_id)
        ).first()
    return row is not None and row.status == "INVL" and row.file_record_count is None


def retire_duplicate(paths: BillingPaths, feed: Feed) -> Path | None:
    """Re-dropped bytes of a feed already uploaded: move them beside the original — archived,
    or quarantined when it was unreadable — into ``redropped/``, so the inbox only holds new
    work. Returns that folder, or None while the original is still being staged. The copy may
    bear another name: the same bytes are the same feed, and any control file filed with the
    original says it is filed."""
    for root in (paths.archive, paths.quarantine):
        original = root / feed.header_id
        if any(path.is_file() for path in original.glob(f"*{CONTROL_SUFFIX}")):
            return move_files(feed.files, original / "redropped")
    return None
