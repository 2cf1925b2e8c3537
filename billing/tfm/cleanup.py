"""Clean up (C1-TXNCU, request type ``EROR``): aggregated charges of the feeds recomputed
from the legs they still hold (deleted when none is left), and the feeds' summaries dropped."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete

from billing.db.schema import txn_summary
from billing.tfm.charge_totals import feed_aggregated_charges, recompute_aggregated_charges


def clean_up_feeds(conn: Connection, header_ids: Sequence[str]) -> dict[str, int]:
    totals = recompute_aggregated_charges(conn, feed_aggregated_charges(header_ids))
    dropped = conn.execute(delete(txn_summary).where(txn_summary.c.header_id.in_(header_ids))).rowcount
    return {"charges_recomputed": totals["recomputed"], "charges_deleted": totals["deleted"],
            "summaries_dropped": dropped}
