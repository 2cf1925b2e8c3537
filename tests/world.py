"""A small hand-made billing world for the aggregation tests, and helpers to run feeds.

Every expected value in the tests is worked out by hand from these rows:

* division US (USD, TXN_DATE, price list STD), division EU (EUR, BUSINESS_DATE, list EUSTD);
* rules of US: CARD → own CARD_FEE (param = channel) + FIXED account FEES INTERCHANGE;
  WIRE → own WIRE_FEE + PARENT_ACCOUNT WIRE_PARENT; ATM → own ATM_FEE; CHQ → own CHQ_FEE;
  FXT → own FX_FEE; INFO → own INFO_FEE; MISC → own MISC_FEE; rule of EU: CARD → own CARD_FEE;
* pricing (all FLAT):
  - CARD_FEE on list STD, any param: N/N/RITX on TXN_AMOUNT at 0.01, min_charge 0.25;
  - CARD_FEE on list STD, param ONLINE: N/N/RITX on TXN_COUNT at 0.30 (param beats any);
  - CARD_FEE for account A2: N/N/DNRT on TXN_COUNT at 1 (ACCOUNT beats PRICE_LIST);
  - CARD_FEE for account AMB: two rows, any param → ambiguous;
  - INTERCHANGE for account FEES: Y/N/RITX on TXN_AMOUNT at 0.002 → IGNR, calculation kept;
  - WIRE_FEE on list STD: N/Y/RITA on TXN_AMOUNT at 0.001 (rounded per transaction);
  - WIRE_PARENT for person P1: N/Y/AGTR on TXN_COUNT at 0.10 (PERSON beats PRICE_LIST at 9);
  - WIRE_PARENT on list STD: N/Y/AGTR on TXN_COUNT at 9;
  - ATM_FEE on list STD: N/Y/DNRT on TXN_VOLUME at 2;
  - CHQ_FEE on list STD: N/N/DNRT on TXN_VOLUME at 1.5;
  - FX_FEE for account A1: N/N/RITX on TXN_AMOUNT in EUR at 0.01; USD→EUR 0.9 from
    2026-01-01, 0.8 from 2026-11-10;
  - INFO_FEE on list STD: Y/N/DNRT → IGNR;
  - MISC_FEE for account A2 only → NO_PRICING for anybody else;
  - CARD_FEE on list EUSTD: N/N/RITX on TXN_COUNT at 0.20 (EUR);
  - TIER_FEE (product TIER): N/N/RITX graduated on TXN_AMOUNT: up to 100 at 0.02 + 1.00 flat,
    up to 1000 at 0.01, above at 0.005 + 2.00 flat;
  - VOL_FEE (product VOLP): N/Y/AGTR volume-priced on TXN_COUNT: up to 2 at 1.00, above at
    0.50 + 5.00 flat;
  - PCT_FEE (PCT): 1.5 % of TXN_AMOUNT, max_charge 10; FIX_FEE (FIXF): 2.50 a transaction;
    PKG_FEE (PKG): packages of 10 volume at 4;
* aggregation schedule M has the one period 2026-11-01 … 2026-11-30;
* CARD_FEE needs a contract of type CARDS: A1, A2, AMB and EU1 have one ACTIVE; NOCON has
  none, INACT only an INACTIVE one, TWOCON two ACTIVE ones.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from dagster import DagsterInstance
from sqlalchemy import Engine, delete, select

from billing.db.schema import bill_chg, metadata, txn_detail, txn_detail_excp, txn_detail_stg, warehouse_deletion
from billing.feeds.inbox import identify, submit
from billing.reference.loader import load_reference
from billing.settings import BillingPaths

REFERENCE = {
    "currencies": """currency_cd,minor_units
USD,2
EUR,2
JPY,0
""",
    "divisions": """division_cd,name,currency_cd,processing_date_basis,default_price_list_cd
US,United States,USD,TXN_DATE,STD
EU,Europe,EUR,BUSINESS_DATE,EUSTD
""",
    "persons": """person_id,name,email
P1,Person One,p1@example.com
P2,Person Two,
""",
    "bill_cycles": """bill_cycle_cd,close_day
C1,1
""",
    "accounts": """account_id,person_id,division_cd,currency_cd,bill_cycle_cd,status,parent_account_id,price_list_cd,start_dt,end_dt,payment_terms_days,tax_cd,email
PARENT1,P1,US,USD,C1,OPEN,,,2025-01-01,,,,
A1,P1,US,USD,C1,OPEN,PARENT1,,2025-01-01,,,,
A2,P2,US,USD,C1,OPEN,PARENT1,,2025-01-01,,,,
FEES,P2,US,USD,C1,OPEN,,,2025-01-01,,,,
ORPHAN,P2,US,USD,C1,OPEN,,,2025-01-01,,,,
AMB,P2,US,USD,C1,OPEN,PARENT1,,2025-01-01,,,,
NOCON,P2,US,USD,C1,OPEN,PARENT1,,2025-01-01,,,,
INACT,P2,US,USD,C1,OPEN,PARENT1,,2025-01-01,,,,
TWOCON,P2,US,USD,C1,OPEN,PARENT1,,2025-01-01,,,,
CLOSED1,P2,US,USD,C1,CLOSED,PARENT1,,2025-01-01,,,,
EXPIRED1,P2,US,USD,C1,OPEN,PARENT1,,2025-01-01,2026-06-30,,,
EU1,P2,EU,EUR,C1,OPEN,,,2025-01-01,,,,
""",
    "contracts": """contract_id,account_id,contract_type,status,start_dt,end_dt
K1,A1,CARDS,ACTIVE,2025-01-01,
K2,A2,CARDS,ACTIVE,2025-01-01,
K3,AMB,CARDS,ACTIVE,2025-01-01,
K4,INACT,CARDS,INACTIVE,2025-01-01,
K5,TWOCON,CARDS,ACTIVE,2025-01-01,
K6,TWOCON,CARDS,ACTIVE,2026-01-01,
K7,EU1,CARDS,ACTIVE,2025-01-01,
""",
    "price_items": """price_item_cd,description,contract_type
CARD_FEE,Card transaction fee,CARDS
INTERCHANGE,Interchange,
WIRE_FEE,Wire fee,
WIRE_PARENT,Wire fee billed to the parent,
ATM_FEE,ATM withdrawal,
CHQ_FEE,Cheque deposit,
FX_FEE,FX fee,
INFO_FEE,Information only,
MISC_FEE,Miscellaneous,
TIER_FEE,Graduated fee,
VOL_FEE,Volume-priced fee,
PCT_FEE,Percentage fee,
FIX_FEE,Fixed fee,
PKG_FEE,Package fee,
""",
    "pricing": """price_assignment_id,scope,scope_id,price_item_cd,param_value,start_dt,end_dt,currency_cd,ignore_txn,aggregate_txn,rating_criteria,aggregation_schedule_cd,sqi_basis,rate_type,unit_price,package_size,percent,fixed_amount,min_charge,max_charge
PA_CARD,PRICE_LIST,STD,CARD_FEE,,2025-01-01,,USD,N,N,RITX,,TXN_AMOUNT,FLAT,0.01,,,,0.25,
PA_CARD_ONLINE,PRICE_LIST,STD,CARD_FEE,ONLINE,2025-01-01,,USD,N,N,RITX,,TXN_COUNT,FLAT,0.30,,,,,
PA_CARD_A2,ACCOUNT,A2,CARD_FEE,,2025-01-01,,USD,N,N,DNRT,,TXN_COUNT,FLAT,1,,,,,
PA_AMB_1,ACCOUNT,AMB,CARD_FEE,,2025-01-01,,USD,N,N,RITX,,TXN_COUNT,FLAT,1,,,,,
PA_AMB_2,ACCOUNT,AMB,CARD_FEE,,2026-01-01,,USD,N,N,RITX,,TXN_COUNT,FLAT,2,,,,,
PA_INTER,ACCOUNT,FEES,INTERCHANGE,,2025-01-01,,USD,Y,N,RITX,,TXN_AMOUNT,FLAT,0.002,,,,,
PA_WIRE,PRICE_LIST,STD,WIRE_FEE,,2025-01-01,,USD,N,Y,RITA,M,TXN_AMOUNT,FLAT,0.001,,,,,
PA_WIRE_P1,PERSON,P1,WIRE_PARENT,,2025-01-01,,USD,N,Y,AGTR,M,TXN_COUNT,FLAT,0.10,,,,,
PA_WIRE_STD,PRICE_LIST,STD,WIRE_PARENT,,2025-01-01,,USD,N,Y,AGTR,M,TXN_COUNT,FLAT,9,,,,,
PA_ATM,PRICE_LIST,STD,ATM_FEE,,2025-01-01,,USD,N,Y,DNRT,M,TXN_VOLUME,FLAT,2,,,,,
PA_CHQ,PRICE_LIST,STD,CHQ_FEE,,2025-01-01,,USD,N,N,DNRT,,TXN_VOLUME,FLAT,1.5,,,,,
PA_FX,ACCOUNT,A1,FX_FEE,,2025-01-01,,EUR,N,N,RITX,,TXN_AMOUNT,FLAT,0.01,,,,,
PA_INFO,PRICE_LIST,STD,INFO_FEE,,2025-01-01,,USD,Y,N,DNRT,,TXN_COUNT,FLAT,1,,,,,
PA_MISC,ACCOUNT,A2,MISC_FEE,,2025-01-01,,USD,N,N,RITX,,TXN_COUNT,FLAT,1,,,,,
PA_EU_CARD,PRICE_LIST,EUSTD,CARD_FEE,,2025-01-01,,EUR,N,N,RITX,,TXN_COUNT,FLAT,0.20,,,,,
PA_TIER,PRICE_LIST,STD,TIER_FEE,,2025-01-01,,USD,N,N,RITX,,TXN_AMOUNT,TIERED,,,,,,
PA_VOL,PRICE_LIST,STD,VOL_FEE,,2025-01-01,,USD,N,Y,AGTR,M,TXN_COUNT,VOLUME,,,,,,
PA_PCT,PRICE_LIST,STD,PCT_FEE,,2025-01-01,,USD,N,N,RITX,,TXN_AMOUNT,PERCENT,,,1.5,,,10
PA_FIX,PRICE_LIST,STD,FIX_FEE,,2025-01-01,,USD,N,N,RITX,,TXN_COUNT,FIXED,,,,2.50,,
PA_PKG,PRICE_LIST,STD,PKG_FEE,,2025-01-01,,USD,N,N,RITX,,TXN_VOLUME,PACKAGE,4,10,,,,
""",
    "pricing_tiers": """price_assignment_id,tier_seq,up_to,unit_price,flat_amount
PA_TIER,1,100,0.02,1.00
PA_TIER,2,1000,0.01,
PA_TIER,3,,0.005,2.00
PA_VOL,1,2,1.00,
PA_VOL,2,,0.50,5.00
""",
    "aggregation_periods": """schedule_cd,period_start,period_end
M,2026-11-01,2026-11-30
""",
    "derivation_rules": """rule_id,division_cd,txn_source,product_code,channel,priority,start_dt,end_dt
R_CARD,US,,CARD,,10,2025-01-01,
R_WIRE,US,,WIRE,,10,2025-01-01,
R_ATM,US,,ATM,,10,2025-01-01,
R_CHQ,US,,CHQ,,10,2025-01-01,
R_FX,US,,FXT,,10,2025-01-01,
R_INFO,US,,INFO,,10,2025-01-01,
R_MISC,US,,MISC,,10,2025-01-01,
R_EU_CARD,EU,,CARD,,10,2025-01-01,
R_TIER,US,,TIER,,10,2025-01-01,
R_VOL,US,,VOLP,,10,2025-01-01,
R_PCT,US,,PCT,,10,2025-01-01,
R_FIX,US,,FIXF,,10,2025-01-01,
R_PKG,US,,PKG,,10,2025-01-01,
""",
    "rule_legs": """rule_id,leg_seq,account_basis,fixed_account_id,price_item_cd,param_source
R_CARD,1,TXN_ACCOUNT,,CARD_FEE,channel
R_CARD,2,FIXED,FEES,INTERCHANGE,
R_WIRE,1,TXN_ACCOUNT,,WIRE_FEE,
R_WIRE,2,PARENT_ACCOUNT,,WIRE_PARENT,
R_ATM,1,TXN_ACCOUNT,,ATM_FEE,
R_CHQ,1,TXN_ACCOUNT,,CHQ_FEE,
R_FX,1,TXN_ACCOUNT,,FX_FEE,
R_INFO,1,TXN_ACCOUNT,,INFO_FEE,
R_MISC,1,TXN_ACCOUNT,,MISC_FEE,
R_EU_CARD,1,TXN_ACCOUNT,,CARD_FEE,
R_TIER,1,TXN_ACCOUNT,,TIER_FEE,
R_VOL,1,TXN_ACCOUNT,,VOL_FEE,
R_PCT,1,TXN_ACCOUNT,,PCT_FEE,
R_FIX,1,TXN_ACCOUNT,,FIX_FEE,
R_PKG,1,TXN_ACCOUNT,,PKG_FEE,
""",
    "exchange_rates": """from_currency_cd,to_currency_cd,effective_dt,rate
USD,EUR,2026-01-01,0.9
USD,EUR,2026-11-10,0.8
""",
    "tax_rates": """tax_cd,effective_dt,rate_percent
""",
    "services": """service_id,account_id,service_cd,description,status,start_dt,end_dt,bill_period,price,next_bill_dt,discount_percent,discount_expires_dt,reopen_dt
""",
}

HEADER = "external_txn_id,txn_datetime,account_id,product_code,currency,amount,volume,channel"
BUSINESS_DATE = date(2026, 11, 21)

REFERENCE_TABLES = {"currencies", "divisions", "persons", "bill_cycles", "accounts", "contracts", "price_items",
                    "pricing", "pricing_tiers", "aggregation_periods", "derivation_rules", "rule_legs",
                    "exchange_rates", "tax_rates", "services", "service_definitions", "reference_load",
                    "pricing_change"}


def write_reference(folder: Path, overrides: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {**REFERENCE, **(overrides or {})}.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


def load_world(engine: Engine, folder: Path) -> None:
    load_reference(engine, write_reference(folder))


def write_feed(
    folder: Path,
    name: str,
    rows: list[str],
    *,
    division: str = "US",
    source: str = "BANKA",
    external_header_id: str | None = None,
    header_date: str = "2026-11-20",
    record_count: int | None = None,
    total_amount: str | None = None,
    total_volume: str | None = None,
    header: str = HEADER,
) -> Path:
    """Write NAME.csv and NAME.ctl.json; totals default to the exact sums of the rows."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    columns = header.split(",")
    amounts, volumes = Decimal(0), Decimal(0)
    for row in rows:
        cells = row.split(",")
        if len(cells) != len(columns):
            continue
        record = dict(zip(columns, cells))
        amounts += _decimal_or_zero(record.get("amount", ""))
        volumes += _decimal_or_zero(record.get("volume", ""))
    control = {
        "external_header_id": external_header_id or name.upper(),
        "header_date": header_date,
        "source": source,
        "division": division,
        "record_count": len(rows) if record_count is None else record_count,
        "total_amount": total_amount or str(amounts),
        "total_volume": total_volume or str(volumes),
        "data_file": f"{name}.csv",
    }
    path = folder / f"{name}.ctl.json"
    path.write_text(json.dumps(control), encoding="utf-8")
    return path


def _decimal_or_zero(text: str) -> Decimal:
    try:
        return Decimal(text)
    except ArithmeticError:
        return Decimal(0)


def run_feed(paths: BillingPaths, control: Path, business_date: date = BUSINESS_DATE, instance=None):
    """Submit the feed to the inbox and run the real aggregation job for its partition."""
    from jobs.launch import run_aggregation

    feed = identify(submit(control.with_name(control.name[: -len(".ctl.json")] + ".csv"), control, paths.inbox))
    outcome = run_aggregation(instance or DagsterInstance.ephemeral(), feed, business_date)
    return feed.header_id, outcome


def charge_sums(engine: Engine) -> list[tuple]:
    """Each charge as (account, price item, count, volume, amount, charge amount), Decimals,
    ordered by account and price item."""
    found = rows(engine, bill_chg, "account_id", "price_item_cd", "txn_count", "txn_volume", "txn_amount",
                 "charge_amount", order_by=[bill_chg.c.account_id, bill_chg.c.price_item_cd])
    return [(a, p, n, Decimal(v), Decimal(amt), Decimal(c)) for a, p, n, v, amt, c in found]


def rows(engine: Engine, table, *columns, where=None, order_by=None) -> list[tuple]:
    query = select(*(table.c[c] for c in columns))
    if where is not None:
        query = query.where(where)
    query = query.order_by(*(order_by or [table.c[columns[0]]]))
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


def statuses(engine: Engine, header_id: str) -> dict[str, str]:
    """external_txn_id (or "row N" for a row without one) → status, over txn_detail and staging."""
    result = {}
    for table in (txn_detail, txn_detail_stg):
        found = rows(engine, table, "external_txn_id", "row_no", "status", where=table.c.header_id == header_id,
                     order_by=[table.c.row_no])
        for external_id, row_no, status in found:
            result[external_id or f"row {row_no}"] = status
    return result


def errors(engine: Engine, header_id: str) -> dict[str, list[str]]:
    """external_txn_id → error codes from txn_detail_excp."""
    d, e = txn_detail, txn_detail_excp
    query = (
        select(d.c.external_txn_id, e.c.error_code)
        .join(e, e.c.txn_id == d.c.txn_id)
        .where(d.c.header_id == header_id)
        .order_by(d.c.external_txn_id, e.c.leg_id, e.c.error_code)
    )
    result: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for external_id, code in conn.execute(query):
            result.setdefault(external_id, []).append(code)
    return result


def forget_feeds(engine: Engine) -> None:
    """Empty everything but the reference data, as before the first feed."""
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if table.name == "id_allocator":  # the pricing refresh's lock row predates the feeds
                conn.execute(delete(table).where(table.c.name != "pricing_refresh"))
            elif table.name not in REFERENCE_TABLES | {"pricing_effective", "pricing_effective_build"}:
                conn.execute(delete(table))
        conn.execute(delete(warehouse_deletion))  # the tombstones of what was just emptied: no history either
