"""Clean up (C1-TXNCU, request type ``EROR``): aggregated charges of the feed recomputed
from the legs they still hold (deleted when none is left), and the feed's summaries dropped."""

from __future__ import annotations

from sqlalchemy import Connection, delete

from billing.db.schema import txn_summary
from billing.tfm.charge_totals import feed_aggregated_charges, recompute_aggregated_charges


def clean_up_feed(conn: Connection, header_id: str) -> dict[str, int]:
    totals = recompute_aggregated_charges(conn, feed_aggregated_charges(header_id))
    dropped = conn.execute(delete(txn_summary).where(txn_summary.c.header_id == header_id)).rowcount
    return {"charges_recomputed": totals["recomputed"], "charges_deleted": totals["deleted"],
            "summaries_dropped": dropped}
