"""Upload: a feed's files → ``txn_header`` (``UPLD``) and ``txn_detail_stg`` (``UPLD``).

The whole upload is one database transaction, so a crash leaves either the complete feed
or nothing; uploading a feed whose header exists already does nothing. A data file that
cannot be read at all still gets a header row — ``INVL``, with the reason — so the operator
sees it beside the others; its files then go to quarantine (the caller moves the files).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from billing.db.bulk import analyze, bulk_insert
from billing.db.engine import allocate_ids
from billing.db.schema import TXN_ID_FEED_FACTOR, txn_detail_stg, txn_header
from billing.errors import FeedRejected
from billing.feeds.inbox import Feed
from billing.feeds.reader import DEFAULT_CHUNK_ROWS, read_ahead, read_feed


@dataclass(frozen=True)
class UploadResult:
    header_id: str
    status: str
    rows: int
    message: str | None
    uploaded_now: bool


def upload_feed(engine: Engine, feed: Feed, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> UploadResult:
    existing = existing_upload(engine, feed.header_id)
    if existing is not None:
        return existing
    try:
        with engine.begin() as conn:
            feed_no = _insert_header(conn, feed, status="UPLD", message=None)
            rows = 0
            for chunk in read_ahead(read_feed(feed.control.data_path, chunk_rows)):
                if rows + len(chunk) >= TXN_ID_FEED_FACTOR:
                    raise FeedRejected(
                        f"data file {feed.control.data_file} has more than {TXN_ID_FEED_FACTOR - 1} rows: split it"
                    )
                chunk.insert(0, "txn_id", feed_no * TXN_ID_FEED_FACTOR + chunk["row_no"])
                chunk.insert(1, "header_id", feed.header_id)
                chunk["status"] = "UPLD"
                rows += bulk_insert(conn, txn_detail_stg, chunk)
            analyze(conn, txn_detail_stg)
        return UploadResult(feed.header_id, "UPLD", rows, None, True)
    except FeedRejected as rejected:
        with engine.begin() as conn:
            _insert_header(conn, feed, status="INVL", message=str(rejected))
        return UploadResult(feed.header_id, "INVL", 0, str(rejected), True)


def existing_upload(engine: Engine, header_id: str) -> UploadResult | None:
    """The feed's header as an upload result, if the feed was uploaded already."""
    with engine.connect() as conn:
        row = conn.execute(
            select(txn_header.c.status, txn_header.c.message).where(txn_header.c.header_id == header_id)
        ).first()
    return None if row is None else UploadResult(header_id, row.status, 0, row.message, False)


def feed_header(conn, header_id: str):
    """The feed's ``txn_header`` row; a clear error when the feed was never uploaded."""
    row = conn.execute(select(txn_header).where(txn_header.c.header_id == header_id)).first()
    if row is None:
        raise FeedRejected(
            f"feed {header_id} has not been uploaded: materialize staged_feed for this partition first "
            "(or submit the feed's files again)"
        )
    return row


def _insert_header(conn, feed: Feed, *, status: str, message: str | None) -> int:
    feed_no = allocate_ids(conn, "feed_no", 1)
    control = feed.control
    conn.execute(
        txn_header.insert().values(
            header_id=feed.header_id,
            feed_no=feed_no,
            external_header_id=control.external_header_id,
            header_dt=control.header_date,
            txn_source_cd=control.source,
            division_cd=control.division,
            record_count=control.record_count,
            total_amount=control.total_amount,
            total_volume=control.total_volume,
            status=status,
            message=message,
            data_file=control.data_file,
            control_file=control.path.name,
            content_hash=feed.digest,
        )
    )
    return feed_no
