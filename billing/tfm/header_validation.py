"""Header validation (C1-TXNHV): the feed as a whole against its control file.

Options and defaults follow the seed: checksum validation (record count over every data
row, sums of amount and volume over the rows whose value parses, compared exactly),
duplicate check against feeds already ``VALI``, and which signs of the control's total
volume are allowed. Pass → ``VALI``; fail → the header and all its transactions ``INVL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, func, literal, select, update

from billing.db.money import dsum, to_text
from billing.db.schema import txn_detail_stg, txn_header
from billing.tfm.moves import move_staged_to_detail
from billing.tfm.upload import feed_header


@dataclass(frozen=True)
class HeaderValidationOptions:
    checksum_validation: bool = True
    duplicate_check: bool = True
    allow_positive_volume: bool = True
    allow_negative_volume: bool = False
    allow_zero_volume: bool = False


@dataclass(frozen=True)
class HeaderValidationResult:
    status: str
    message: str | None
    record_count: int
    total_amount: Decimal | None
    total_volume: Decimal | None
    validated_now: bool


def validate_header(conn: Connection, header_id: str, options: HeaderValidationOptions) -> HeaderValidationResult:
    header = feed_header(conn, header_id)
    if header.status != "UPLD":
        return HeaderValidationResult(
            header.status, header.message, header.file_record_count or 0,
            header.file_total_amount, header.file_total_volume, False,
        )
    staged = conn.execute(
        select(func.count(), dsum(txn_detail_stg.c.amount), dsum(txn_detail_stg.c.volume)).where(
            txn_detail_stg.c.header_id == header_id
        )
    ).one()
    count, amount, volume = staged[0], staged[1] or Decimal(0), staged[2] or Decimal(0)
    problems = _problems(conn, header, options, count, amount, volume)
    status = "INVL" if problems else "VALI"
    message = f"feed {header_id} rejected by header validation: " + "; ".join(problems) if problems else None
    conn.execute(
        update(txn_header)
        .where(txn_header.c.header_id == header_id)
        .values(status=status, message=message, file_record_count=count,
                file_total_amount=amount, file_total_volume=volume)
    )
    if problems:
        move_staged_to_detail(
            conn,
            txn_detail_stg.c.header_id == header_id,
            status=literal("INVL"),
            message=literal(message + " — correct the feed and submit it again"),
        )
    return HeaderValidationResult(status, message, count, amount, volume, True)


def _problems(conn, header, options, count, amount, volume) -> list[str]:
    problems = []
    if options.checksum_validation:
        if count != header.record_count:
            problems.append(f"record_count {header.record_count} in the control file, {count} rows in the data file")
        if amount != header.total_amount:
            problems.append(
                f"total_amount {to_text(header.total_amount)} in the control file, "
                f"{to_text(amount)} summed over the data file"
            )
        if volume != header.total_volume:
            problems.append(
                f"total_volume {to_text(header.total_volume)} in the control file, "
                f"{to_text(volume)} summed over the data file"
            )
    if options.duplicate_check:
        duplicate = conn.execute(
            select(txn_header.c.header_id).where(
                txn_header.c.external_header_id == header.external_header_id,
                txn_header.c.header_dt == header.header_dt,
                txn_header.c.status == "VALI",
                txn_header.c.header_id != header.header_id,
            )
        ).scalar()
        if duplicate:
            problems.append(
                f"duplicate of feed {duplicate} (same external header id {header.external_header_id} "
                f"and header date {header.header_dt})"
            )
    sign = (header.total_volume > 0) - (header.total_volume < 0)
    allowed = {1: options.allow_positive_volume, -1: options.allow_negative_volume, 0: options.allow_zero_volume}
    if not allowed[sign]:
        kind = {1: "positive", -1: "negative", 0: "zero"}[sign]
        problems.append(f"{kind} total_volume {to_text(header.total_volume)} is not allowed")
    return problems
