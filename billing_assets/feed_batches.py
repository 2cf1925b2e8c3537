"""Runs over several feeds.

A run of the aggregation job is one feed partition, or — when many small feeds arrive
together — a range of feed partitions the feed sensor batched into one run, so that a thousand
feeds do not pay Dagster's run start-up a thousand times. Each asset then does its step over
all the feeds of the run at once: the TFM steps take a list of feeds and are set-based over
it, in one database transaction (``feeds_transaction``); upload and header validation, which
read each feed's own files and control totals, go feed by feed (``each_feed``). A batch's
metadata adds the number of feeds and a table of them; a run of one feed reports exactly
what the step returned. Both helpers first make sure no earlier run is cancelling one of
the run's feeds (``feed_exclusion``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from dagster import MetadataValue
from sqlalchemy import Connection, Engine, select

from billing.db.schema import txn_header
from billing.tfm.report import markdown_table, transactions_by_feed
from billing.tfm.upload import feed_header
from billing_assets.feed_exclusion import refuse_while_cancelling
from resources import BillingDatabase

# A column of the by-feed table: a count, or a short code such as a status.
_SHORT_TEXT = 12


def feeds_of_run(context) -> list[str]:
    """The run's feed partitions, in order (asset or asset check context)."""
    return list(context.partition_keys)


def uploaded(conn: Connection, header_ids: Sequence[str]) -> set[str]:
    """Those of ``header_ids`` that have a ``txn_header`` row."""
    return set(conn.execute(select(txn_header.c.header_id).where(txn_header.c.header_id.in_(header_ids))).scalars())


def feeds_to_process(context, engine: Engine) -> list[str]:
    """The run's feeds. A feed never uploaded (its files went missing before the run) is
    skipped in a batch, with a warning; alone, it fails the step with what to do."""
    keys = feeds_of_run(context)
    with engine.connect() as conn:
        if len(keys) == 1:
            feed_header(conn, keys[0])  # raises, naming the feed and what to do
            return keys
        present = uploaded(conn, keys)
    missing = [key for key in keys if key not in present]
    if missing:
        context.log.warning(f"{len(missing)} feeds of this run were never uploaded and are skipped: "
                            f"{', '.join(missing)}")
    return [key for key in keys if key in present]


def each_feed(context, database: BillingDatabase, step: Callable[[Connection, str], dict]) -> dict[str, dict]:
    """``step(conn, header_id)`` for every feed to process, each in its own transaction."""
    refuse_while_cancelling(context, feeds_of_run(context))
    engine = database.engine()
    results = {}
    for key in feeds_to_process(context, engine):
        with engine.begin() as conn:
            results[key] = step(conn, key)
    return results


@contextmanager
def feeds_transaction(context, database: BillingDatabase) -> Iterator[tuple[Connection, list[str]]]:
    """One database transaction for the step over the run's feeds to process."""
    refuse_while_cancelling(context, feeds_of_run(context))
    engine = database.engine()
    feeds = feeds_to_process(context, engine)
    with engine.begin() as conn:
        yield conn, feeds


def batch_summary(conn: Connection, feeds: Sequence[str]) -> dict:
    """For a batch: the number of feeds and their transactions by status, feed by feed."""
    if len(feeds) <= 1:
        return {}
    by_feed = transactions_by_feed(conn, feeds)
    statuses = sorted({status for counts in by_feed.values() for status in counts})
    table = [{"feed": feed, **{status: by_feed.get(feed, {}).get(status, 0) for status in statuses}} for feed in feeds]
    return {"feeds": len(feeds), "by_feed": MetadataValue.md(markdown_table(table))}


def combined(per_feed: dict[str, dict]) -> dict:
    """The metadata of a step over the run's feeds: one feed's own, or the counts summed with
    a table by feed."""
    if len(per_feed) == 1:
        return next(iter(per_feed.values()))
    columns: list[str] = []
    totals: dict[str, int] = {}
    for metadata in per_feed.values():
        for key, value in metadata.items():
            if _is_count(value):
                totals[key] = totals.get(key, 0) + value
            elif not (isinstance(value, str) and len(value) <= _SHORT_TEXT):
                continue
            if key not in columns:
                columns.append(key)
    table = [{"feed": feed, **{key: metadata.get(key, "") for key in columns}} for feed, metadata in per_feed.items()]
    return {"feeds": len(per_feed), **totals, "by_feed": MetadataValue.md(markdown_table(table))}


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
