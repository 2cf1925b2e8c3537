"""The billing database: every table, in SQLAlchemy Core (DESIGN §4.4 and §4.5).

Reference tables are named after the reference files they are loaded from
(``accounts.csv`` → ``accounts``); the TFM and billing tables carry the contract names of
DESIGN §4.5. Money and quantities are :class:`~billing.db.money.Money` (exact decimals).

Keys of the TFM tables are deterministic, so that re-running a step, or a whole partition
after a crash, writes exactly the same rows:

* ``txn_id``  = ``feed_no`` × 10^8 + the data row's number in the file;
* ``leg_id``  = ``txn_id`` × 100 + the rule leg's sequence;
* ``summary_id`` and ``bill_chg_id`` come from :data:`id_allocator`, a row-locked counter
  updated in the same database transaction as the rows it numbers (so a rolled-back step
  gives its numbers back — unlike a PostgreSQL sequence);
* ``calc_line_id`` names what the line rates: ``L`` + ``leg_id`` or ``C`` + ``bill_chg_id``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from billing.db.money import Money

metadata = MetaData()

TXN_ID_FEED_FACTOR = 100_000_000  # rows per feed
LEG_ID_TXN_FACTOR = 100  # legs per transaction

_CODE = 40
_ID = 64
_NAME = 200


def _code(name: str, **kw) -> Column:
    return Column(name, String(_CODE), **kw)


def _id(name: str, **kw) -> Column:
    return Column(name, String(_ID), **kw)


# --- reference data (DESIGN §4.4) -----------------------------------------------------------

currencies = Table(
    "currencies",
    metadata,
    Column("currency_cd", String(3), primary_key=True),
    Column("minor_units", Integer, nullable=False),
)

divisions = Table(
    "divisions",
    metadata,
    _code("division_cd", primary_key=True),
    Column("name", String(_NAME), nullable=False),
    Column("currency_cd", String(3), nullable=False),
    _code("processing_date_basis", nullable=False),
    _code("default_price_list_cd"),
)

persons = Table(
    "persons",
    metadata,
    _id("person_id", primary_key=True),
    Column("name", String(_NAME), nullable=False),
    Column("email", String(_NAME)),
)

bill_cycles = Table(
    "bill_cycles",
    metadata,
    _code("bill_cycle_cd", primary_key=True),
    Column("close_day", Integer, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    _id("account_id", primary_key=True),
    _id("person_id", nullable=False),
    _code("division_cd", nullable=False),
    Column("currency_cd", String(3), nullable=False),
    _code("bill_cycle_cd", nullable=False),
    _code("status", nullable=False),
    _id("parent_account_id"),
    _code("price_list_cd"),
    Column("start_dt", Date, nullable=False),
    Column("end_dt", Date),
    Column("payment_terms_days", Integer),
    _code("tax_cd"),
    Column("email", String(_NAME)),
    # Kept by the close of day, never by a reference load (whose upsert writes only the
    # file's columns): why and since when the status is what it is, the operator's grace
    # date, the static balances and the pending-transactions flag (the seed's finactivity).
    _code("status_reason"),
    Column("status_dt", Date),
    Column("grace_dt", Date),
    Column("balance", Money),
    Column("past_due_balance", Money),
    Column("balance_dt", Date),
    Column("finactivity_sw", String(1)),
    # Stamped by the database on insert and update (billing/db/change_tracking.py): the EDW export.
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=text("CURRENT_TIMESTAMP"), index=True),
)

contracts = Table(
    "contracts",
    metadata,
    _id("contract_id", primary_key=True),
    _id("account_id", nullable=False, index=True),
    _code("contract_type", nullable=False),
    _code("status", nullable=False),
    Column("start_dt", Date, nullable=False),
    Column("end_dt", Date),
    # Stamped by the database on insert and update (billing/db/change_tracking.py): the EDW export.
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=text("CURRENT_TIMESTAMP"), index=True),
)

price_items = Table(
    "price_items",
    metadata,
    _code("price_item_cd", primary_key=True),
    Column("description", String(_NAME), nullable=False),
    _code("contract_type"),
)

pricing = Table(
    "pricing",
    metadata,
    _id("price_assignment_id", primary_key=True),
    _code("scope", nullable=False),
    _id("scope_id", nullable=False),
    _code("price_item_cd", nullable=False),
    _code("param_value"),
    Column("start_dt", Date, nullable=False),
    Column("end_dt", Date),
    Column("currency_cd", String(3), nullable=False),
    Column("ignore_txn", String(1), nullable=False),
    Column("aggregate_txn", String(1), nullable=False),
    _code("rating_criteria", nullable=False),
    _code("aggregation_schedule_cd"),
    _code("sqi_basis", nullable=False),
    _code("rate_type", nullable=False),
    Column("unit_price", Money),
    Column("package_size", Money),
    Column("percent", Money),
    Column("fixed_amount", Money),
    Column("min_charge", Money),
    Column("max_charge", Money),
    Index("ix_pricing_scope", "scope", "scope_id", "price_item_cd"),
)

pricing_tiers = Table(
    "pricing_tiers",
    metadata,
    _id("price_assignment_id", primary_key=True),
    Column("tier_seq", Integer, primary_key=True),
    Column("up_to", Money),
    Column("unit_price", Money),
    Column("flat_amount", Money),
)

aggregation_periods = Table(
    "aggregation_periods",
    metadata,
    _code("schedule_cd", primary_key=True),
    Column("period_start", Date, primary_key=True),
    Column("period_end", Date, nullable=False),
)

derivation_rules = Table(
    "derivation_rules",
    metadata,
    _id("rule_id", primary_key=True),
    _code("division_cd", nullable=False),
    _code("txn_source"),
    _code("product_code"),
    _code("channel"),
    Column("priority", Integer, nullable=False),
    Column("start_dt", Date, nullable=False),
    Column("end_dt", Date),
    Index("ix_derivation_rules_division", "division_cd", "priority"),
)

rule_legs = Table(
    "rule_legs",
    metadata,
    _id("rule_id", primary_key=True),
    Column("leg_seq", Integer, primary_key=True),
    _code("account_basis", nullable=False),
    _id("fixed_account_id"),
    _code("price_item_cd", nullable=False),
    _code("param_source"),
)

exchange_rates = Table(
    "exchange_rates",
    metadata,
    Column("from_currency_cd", String(3), primary_key=True),
    Column("to_currency_cd", String(3), primary_key=True),
    Column("effective_dt", Date, primary_key=True),
    Column("rate", Money, nullable=False),
)

tax_rates = Table(
    "tax_rates",
    metadata,
    _code("tax_cd", primary_key=True),
    Column("effective_dt", Date, primary_key=True),
    Column("rate_percent", Money, nullable=False),
)

services = Table(
    "services",
    metadata,
    _id("service_id", primary_key=True),
    _id("account_id", nullable=False, index=True),
    _code("service_cd", nullable=False),
    Column("description", String(_NAME)),
    _code("status", nullable=False),
    Column("start_dt", Date, nullable=False),
    Column("end_dt", Date),
    _code("bill_period", nullable=False),
    Column("price", Money, nullable=False),
    Column("next_bill_dt", Date),
    Column("discount_percent", Money),
    Column("discount_expires_dt", Date),
    Column("reopen_dt", Date),
    _code("status_reason"),  # kept by the close of day, like the account's
    Column("status_dt", Date),
)

service_definitions = Table(
    "service_definitions",
    metadata,
    # Optional reference file; a service code without a definition always takes new services.
    _code("service_cd", primary_key=True),
    Column("description", String(_NAME)),
    Column("end_dt", Date),
    _code("status", nullable=False, server_default="OPEN"),  # OPEN or NO_NEW (close of day)
)

reference_load = Table(
    "reference_load",
    metadata,
    Column("load_id", Integer, primary_key=True, autoincrement=True),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("files", Text, nullable=False),
    Column("row_counts", Text, nullable=False),
)

# --- platform bookkeeping -------------------------------------------------------------------

id_allocator = Table(
    "id_allocator",
    metadata,
    Column("name", String(_CODE), primary_key=True),
    Column("next_id", BigInteger, nullable=False),
)

pricing_effective = Table(
    "pricing_effective",
    metadata,
    _id("account_id", nullable=False),
    _code("price_item_cd", nullable=False),
    _code("param_value"),
    _id("price_assignment_id", nullable=False),
    Column("scope_rank", Integer, nullable=False),
    Column("start_dt", Date, nullable=False),
    Column("end_dt", Date),
    Index("ix_pricing_effective_lookup", "account_id", "price_item_cd"),
)

pricing_effective_build = Table(
    "pricing_effective_build",
    metadata,
    Column("build_no", Integer, primary_key=True),
    Column("reference_load_id", Integer),
    Column("row_count", Integer, nullable=False),
)

# --- transaction feed management (DESIGN §4.5) ----------------------------------------------

txn_header = Table(
    "txn_header",
    metadata,
    Column("header_id", String(120), primary_key=True),
    Column("feed_no", BigInteger, nullable=False, unique=True),
    Column("external_header_id", String(_NAME), nullable=False),
    Column("header_dt", Date),
    _code("txn_source_cd", nullable=False),
    _code("division_cd", nullable=False),
    Column("record_count", Integer),
    Column("total_amount", Money),
    Column("total_volume", Money),
    Column("status", String(4), nullable=False),
    Column("message", Text),
    Column("data_file", String(_NAME)),
    Column("control_file", String(_NAME)),
    Column("content_hash", String(64), nullable=False),
    Column("file_record_count", Integer),
    Column("file_total_amount", Money),
    Column("file_total_volume", Money),
    # Raised each time a rollback or disaggregation sends some of the feed's transactions back
    # to staging: the re-aggregation sensor runs the feed once per generation.
    Column("reprocess_no", Integer, nullable=False, server_default="0"),
    Index("ix_txn_header_duplicate", "external_header_id", "header_dt", "status"),
)

_TXN_COLUMNS = (
    ("row_no", Integer),
    ("external_txn_id", String(_NAME)),
    ("txn_dttm", String(64)),
    ("txn_dt", Date),
    ("account_id", String(_ID)),
    ("product_code", String(_CODE)),
    ("currency", String(_CODE)),
    ("amount", Money),
    ("volume", Money),
    ("channel", String(_CODE)),
    ("reference", String(_NAME)),
    ("attributes", Text),
    ("raw_record", Text),
)


def _txn_columns() -> list[Column]:
    return [Column(name, type_) for name, type_ in _TXN_COLUMNS]


TXN_COLUMN_NAMES = tuple(name for name, _ in _TXN_COLUMNS)

txn_detail_stg = Table(
    "txn_detail_stg",
    metadata,
    Column("txn_id", BigInteger, primary_key=True, autoincrement=False),
    Column("header_id", String(120), nullable=False),
    *_txn_columns(),
    Column("parse_error", Text),
    Column("status", String(4), nullable=False),
    # Only what the steps look rows up by (migration 0011): a feed's repeated external ids are
    # found by one window pass over the feed, which no index serves.
    Index("ix_txn_detail_stg_header", "header_id", "txn_dt"),
)

txn_detail = Table(
    "txn_detail",
    metadata,
    Column("txn_id", BigInteger, primary_key=True, autoincrement=False),
    Column("header_id", String(120), nullable=False),
    *_txn_columns(),
    Column("status", String(4), nullable=False),
    Column("business_dt", Date),
    Column("message", Text),
    # No status in the index and half of each page free: status changes are HOT updates
    # (migration 0010 says why).
    Index("ix_txn_detail_header", "header_id"),
    postgresql_with={"fillfactor": 50},
)

txn_detail_excp = Table(
    "txn_detail_excp",
    metadata,
    Column("txn_id", BigInteger, primary_key=True, autoincrement=False),
    _code("error_code", primary_key=True),
    Column("leg_id", BigInteger, primary_key=True, autoincrement=False),  # 0: the transaction
    Column("header_id", String(120), nullable=False, index=True),
    Column("message", Text, nullable=False),
)

rollback_txn = Table(
    "rollback_txn",
    metadata,
    Column("txn_id", BigInteger, primary_key=True, autoincrement=False),
    Column("header_id", String(120), nullable=False, index=True),
    Column("status", String(4), nullable=False),
)

txn_leg = Table(
    "txn_leg",
    metadata,
    Column("leg_id", BigInteger, primary_key=True, autoincrement=False),
    Column("txn_id", BigInteger, nullable=False, index=True),
    Column("header_id", String(120), nullable=False),
    Column("leg_seq", Integer, nullable=False),
    _id("account_id", nullable=False),
    _code("price_item_cd", nullable=False),
    _code("param_value", nullable=False),
    Column("txn_dt", Date, nullable=False),
    Column("processing_dt", Date, nullable=False),
    Column("status", String(4), nullable=False),
    _code("error_code"),
    _id("price_assignment_id"),
    _code("rating_criteria"),
    Column("aggregate_sw", String(1)),
    Column("ignore_sw", String(1)),
    Column("pricing_currency_cd", String(3)),
    Column("exchange_rate", Money),
    Column("sqi_volume", Money),
    Column("sqi_amount", Money),
    Column("sqi_quantity", Money),
    Column("calc_amount", Money),
    Column("agg_period_start", Date),
    Column("agg_period_end", Date),
    Column("summary_id", BigInteger),
    Column("bill_chg_id", BigInteger, index=True),
    # The pricing version (reference load) the leg was priced by: a disaggregation re-rates
    # the legs priced before the pricing it re-rates to, and leaves the others alone.
    Column("priced_load_id", Integer),
    # No status in the index and half of each page free: the steps' passes over a feed's
    # legs are HOT updates but the one that sets bill_chg_id (migration 0010 says why).
    Index("ix_txn_leg_header", "header_id"),
    postgresql_with={"fillfactor": 50},
)

txn_summary = Table(
    "txn_summary",
    metadata,
    Column("summary_id", BigInteger, primary_key=True, autoincrement=False),
    Column("header_id", String(120), nullable=False, index=True),
    _id("account_id", nullable=False),
    _code("price_item_cd", nullable=False),
    _code("param_value", nullable=False),
    Column("txn_dt", Date, nullable=False),
    Column("processing_dt", Date, nullable=False),
    Column("status", String(1), nullable=False),
    _code("error_code"),
    _id("price_assignment_id"),
    Column("bill_chg_id", BigInteger),
)

bill_chg = Table(
    "bill_chg",
    metadata,
    Column("bill_chg_id", BigInteger, primary_key=True, autoincrement=False),
    _id("account_id", nullable=False),
    _code("price_item_cd"),
    _code("param_value", nullable=False),
    Column("start_dt", Date, nullable=False),
    Column("end_dt", Date, nullable=False),
    _code("status", nullable=False),
    Column("aggregated_sw", String(1), nullable=False),
    _id("price_assignment_id"),
    Column("rating_criteria", String(4)),
    Column("currency_cd", String(3), nullable=False),
    Column("txn_count", Integer, nullable=False),
    Column("txn_volume", Money, nullable=False),
    Column("txn_amount", Money, nullable=False),
    Column("charge_amount", Money),
    _code("source", nullable=False),
    Column("description", Text),
    # RECURRING: the service and the period billed (the charge itself is dated the day it
    # was billed); LATE_FEE: the overdue bill. Each at most once, whatever re-runs.
    _id("service_id"),
    Column("period_start", Date),
    Column("period_end", Date),
    _id("late_fee_bill_id"),
    # Stamped by the database on insert and update (billing/db/change_tracking.py): the EDW export.
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=text("CURRENT_TIMESTAMP"), index=True),
    Index("ux_bill_chg_service_period", "service_id", "period_start", unique=True,
          postgresql_where=text("service_id IS NOT NULL"), sqlite_where=text("service_id IS NOT NULL")),
    Index("ux_bill_chg_late_fee", "late_fee_bill_id", unique=True,
          postgresql_where=text("late_fee_bill_id IS NOT NULL"), sqlite_where=text("late_fee_bill_id IS NOT NULL")),
    Index(
        "ix_bill_chg_open_aggregate",
        "account_id",
        "price_item_cd",
        "param_value",
        "price_assignment_id",
        "start_dt",
    ),
)

txn_calc_line = Table(
    "txn_calc_line",
    metadata,
    # One owner, named in the key: ``L<leg_id>`` for a leg's own rating (RITX, RITA),
    # ``C<bill_chg_id>`` for an aggregated charge rated on its total (AGTR). Lines are found
    # through that key, so the key is the table's only index.
    _id("calc_line_id", primary_key=True),
    Column("leg_id", BigInteger),
    Column("bill_chg_id", BigInteger),
    Column("header_id", String(120)),
    _id("price_assignment_id", nullable=False),
    Column("rating_criteria", String(4), nullable=False),
    _code("rate_type", nullable=False),
    _code("sqi_basis", nullable=False),
    Column("quantity", Money, nullable=False),
    Column("currency_cd", String(3), nullable=False),
    Column("amount", Money, nullable=False),
)

# --- invoicing and disaggregation (DESIGN §4.5; filled by later steps) ----------------------

bill = Table(
    "bill",
    metadata,
    _id("bill_id", primary_key=True),
    _id("account_id", nullable=False, index=True),
    Column("bill_dt", Date, nullable=False),
    Column("window_start", Date, nullable=False),
    Column("window_end", Date, nullable=False),
    _code("status", nullable=False),
    Column("due_dt", Date),
    Column("invoice_number", String(_CODE), unique=True),
    Column("subtotal", Money),
    Column("tax_amount", Money),
    Column("total_amount", Money),
    _code("division_cd"),
    Column("currency_cd", String(3)),
    _code("tax_cd"),
    Column("tax_rate_percent", Money),
    Column("completed_dt", Date),
    Column("message", Text),
    Column("paid_amount", Money),  # of the total less credit notes, paid oldest due first (UpdateStaticBalances)
    # Stamped by the database on insert and update (billing/db/change_tracking.py): the EDW export.
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=text("CURRENT_TIMESTAMP"), index=True),
    # One bill per account and bill date, whatever runs at the same time.
    Index("ux_bill_account_day", "account_id", "bill_dt", unique=True),
)

bill_segment = Table(
    "bill_segment",
    metadata,
    _id("bseg_id", primary_key=True),
    _id("bill_id", nullable=False, index=True),
    # A charge is billed once: its segment, once made, stays its only one.
    Column("bill_chg_id", BigInteger, nullable=False, index=True, unique=True),
    _code("status", nullable=False),
    Column("amount", Money),
    Column("charge_amount", Money),
    Column("charge_currency_cd", String(3)),
    Column("exchange_rate", Money),
    Column("message", Text),
)

credit_note = Table(
    "credit_note",
    metadata,
    _id("credit_note_id", primary_key=True),
    _id("bill_id", nullable=False, unique=True),
    Column("credit_number", String(_CODE), nullable=False, unique=True),
    Column("credit_dt", Date, nullable=False),
    Column("amount", Money, nullable=False),
    Column("reason", Text, nullable=False),
)

bill_document = Table(
    "bill_document",
    metadata,
    # INV-<bill_id> or CRN-<credit_note_id>: one document per invoice or credit note.
    _id("document_id", primary_key=True),
    _id("bill_id", nullable=False, index=True),
    _code("kind", nullable=False),
    Column("recipient", String(_NAME)),
    Column("html_path", Text),
    Column("pdf_path", Text),
    Column("rendered_at", DateTime(timezone=True)),
    Column("sent_at", DateTime(timezone=True)),
    _code("transport"),
    Column("message_id", String(_NAME)),
)

closeofday_log = Table(
    "closeofday_log",
    metadata,
    # The seed's "systemstate closeofday date": the days closed, so days run in order, once.
    Column("business_dt", Date, primary_key=True),
    Column("closed_at", DateTime(timezone=True), nullable=False),
    Column("bills_created", Integer, nullable=False),
    Column("bills_completed", Integer, nullable=False),
    Column("documents_sent", Integer, nullable=False),
)

disagg_req = Table(
    "disagg_req",
    metadata,
    Column("req_id", BigInteger, primary_key=True, autoincrement=False),
    _id("account_id"),
    _id("person_id"),
    Column("from_dt", Date, nullable=False),
    _code("status", nullable=False),
    # The pricing version (reference load) the request re-rates to.
    Column("reference_load_id", Integer),
)

# --- rollback, cancellation and disaggregation (DESIGN §6) -----------------------------------

disagg_leg = Table(
    "disagg_leg",
    metadata,
    # The seed's CI_DISAGG_TXN_PRITM_DETAIL: each leg a request takes apart (C1-IDENT), with
    # what happens to its non-aggregated charge; P until C1-PDTXN has processed it, then C.
    Column("leg_id", BigInteger, primary_key=True, autoincrement=False),
    Column("req_id", BigInteger, nullable=False, index=True),
    Column("txn_id", BigInteger, nullable=False),
    Column("header_id", String(120), nullable=False),
    Column("bill_chg_id", BigInteger),
    Column("aggregated_sw", String(1)),
    _code("action_cd"),
    Column("status", String(1), nullable=False),
)

disagg_charge = Table(
    "disagg_charge",
    metadata,
    # The seed's CI_DISAGG_BCHG_DETAIL: each aggregated charge a request takes apart, with its
    # action (DELETE, CANCEL, NO_ACTION); P until C1-TXNCU (DISAGG) has applied it, then C.
    Column("bill_chg_id", BigInteger, primary_key=True, autoincrement=False),
    Column("req_id", BigInteger, nullable=False, index=True),
    _code("action_cd", nullable=False),
    Column("status", String(1), nullable=False),
)

deleted_bill = Table(
    "deleted_bill",
    metadata,
    # The seed's CI_DELETE_BILL_DETAIL: pending bills deleted by a cancellation (CNCL, the
    # feed's header_id) or a disaggregation (DISAGG, the request id), DELETED until the close
    # of day of their bill date has been run again and billed the account afresh (REBUILT).
    _id("bill_id", primary_key=True),
    _id("account_id", nullable=False),
    Column("bill_dt", Date, nullable=False),
    _code("request_type", nullable=False),
    Column("request_ref", String(120), nullable=False),
    _code("status", nullable=False),
)

pricing_change = Table(
    "pricing_change",
    metadata,
    # A price assignment that a reference load added or changed, and the first date it
    # matters from; the pricing-change sensor turns these into disaggregation requests.
    Column("load_id", Integer, primary_key=True, autoincrement=False),
    _id("price_assignment_id", primary_key=True),
    Column("from_dt", Date, nullable=False),
    _code("status", nullable=False),  # NEW, then REQUESTED (requests made) or NONE (nothing processed)
)


# --- close of day (DESIGN §7) -----------------------------------------------------------------

tax_rate_in_effect = Table(
    "tax_rate_in_effect",
    metadata,
    # UpdateTaxRates: the rate of each tax code in effect, and the day it was put in effect.
    _code("tax_cd", primary_key=True),
    Column("effective_dt", Date, nullable=False),
    Column("rate_percent", Money, nullable=False),
    Column("applied_dt", Date, nullable=False),
)

payment_file = Table(
    "payment_file",
    metadata,
    # A payment file of the inbox: its id (name and content hash) is its Dagster partition.
    _id("file_id", primary_key=True),
    Column("file_name", String(_NAME), nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("message", Text),
)

payment = Table(
    "payment",
    metadata,
    _id("payment_id", primary_key=True),  # file id : row number
    _id("account_id", nullable=False, index=True),
    Column("amount", Money, nullable=False),
    Column("payment_dt", Date, nullable=False),
    Column("reference", String(_NAME), nullable=False),
    _id("file_id", nullable=False),
    # Stamped by the database on insert and update (billing/db/change_tracking.py): the EDW export.
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=text("CURRENT_TIMESTAMP"), index=True),
    # A payment is recorded once, whichever file repeats it.
    Index("ux_payment_account_reference", "account_id", "reference", unique=True),
)

account_payment_info = Table(
    "account_payment_info",
    metadata,
    # The payment method last seen for an account (optional column of payment files), until
    # RemovePaymentInfo deletes it once the account has been closed long enough.
    _id("account_id", primary_key=True),
    Column("payment_method", String(_NAME), nullable=False),
    Column("updated_dt", Date, nullable=False),
)

notice = Table(
    "notice",
    metadata,
    # One row per notice ever due: kind, entity and the date it is about make its id, so a
    # notice is sent once whatever re-runs (claimed, sent, then recorded like documents).
    Column("notice_id", String(_NAME), primary_key=True),
    _code("kind", nullable=False),
    _id("entity_id", nullable=False),
    Column("business_dt", Date, nullable=False),
    Column("recipient", String(_NAME), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    _code("transport"),
)

daily_statistic = Table(
    "daily_statistic",
    metadata,
    # CollectStats: one value per business day and metric.
    Column("business_dt", Date, primary_key=True),
    _code("metric", primary_key=True),
    Column("value", Money, nullable=False),
)


# --- account validation (issue 7, item 7) -------------------------------------------------------

validation_result = Table(
    "validation_result",
    metadata,
    # The daily account validation: one row per business day and rule, written again whole
    # when the day is validated again.
    Column("business_dt", Date, primary_key=True),
    _code("rule_cd", primary_key=True),
    _code("check_name", nullable=False),  # the rule family: account_completeness_check, …
    _code("entity_type", nullable=False),
    _code("severity", nullable=False),  # ERROR or WARNING
    Column("checked_count", Integer, nullable=False),
    Column("failed_count", Integer, nullable=False),
    _code("outcome", nullable=False),  # PASSED or FAILED
)

validation_error = Table(
    "validation_error",
    metadata,
    # The error log of the daily account validation: each failing entity of a rule, with what
    # is wrong and what to fix.
    Column("business_dt", Date, primary_key=True),
    _code("rule_cd", primary_key=True),
    _id("entity_id", primary_key=True),
    _code("entity_type", nullable=False),
    _code("severity", nullable=False),
    Column("message", Text, nullable=False),
)

# --- Operations (batch_processing.yaml): alerts, the feed circuit breaker, the execution log,
# performance metrics and the audit trail (migration 0009).

alert_log = Table(
    "alert_log",
    metadata,
    # One row per alert ever raised, keyed by what it is about (a run and a condition), so an
    # alert is sent once whichever sensor tick sees it (claimed, sent, then recorded).
    Column("alert_key", String(_NAME), primary_key=True),
    _code("condition", nullable=False),
    _code("severity", nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    _code("transport"),
)

circuit_breaker = Table(
    "circuit_breaker",
    metadata,
    # Open when a sensor's runs failed max_consecutive_failures times in a row; an operator's
    # reset closes it and only failures after the reset count again.
    _code("name", primary_key=True),
    _code("state", nullable=False),
    Column("opened_at", DateTime(timezone=True)),
    Column("reason", Text),
    Column("reset_at", DateTime(timezone=True)),
    Column("reset_by", String(_NAME)),
)

batch_execution_log = Table(
    "batch_execution_log",
    metadata,
    # One row per finished run, written from the run's events by the run monitor sensor.
    _id("run_id", primary_key=True),
    Column("job_name", String(_NAME), nullable=False),
    Column("partition_key", String(_NAME)),
    _code("status", nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("steps_succeeded", Integer, nullable=False),
    Column("steps_failed", Integer, nullable=False),
    Column("message", Text),
)

batch_performance_metrics = Table(
    "batch_performance_metrics",
    metadata,
    # The figures of a finished run: records it processed (transactions of a feed, payments of a
    # file, bills of a day …), per hour of run time, and the share of them in error.
    _id("run_id", primary_key=True),
    Column("job_name", String(_NAME), nullable=False),
    Column("partition_key", String(_NAME)),
    Column("duration_seconds", Money, nullable=False),
    Column("records", BigInteger),
    Column("records_per_hour", BigInteger),
    Column("error_records", BigInteger),
    Column("error_rate_pct", Money),
)

audit_log = Table(
    "audit_log",
    metadata,
    # Who did what: operator commands (and refused attempts), reference data loads and
    # configuration changes. Appended to, never updated.
    Column("audit_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(_NAME), nullable=False),
    _code("role"),
    _code("event", nullable=False),
    Column("subject", Text, nullable=False),
    _code("outcome", nullable=False),
    Column("detail", Text),
)


# --- EDW export (issue 7, item 8; migration 0008) -------------------------------------------

import sqlalchemy.event  # noqa: E402  (here, with the one listener it serves)

warehouse_deletion = Table(
    "warehouse_deletion",
    metadata,
    # The latest deletion of each row of an exported table (accounts, contracts, bill_chg, bill,
    # payment), written by AFTER DELETE triggers: it reaches the warehouse as a tombstone.
    _code("table_name", primary_key=True),
    Column("row_key", String(_NAME), primary_key=True),
    Column("deleted_at", DateTime(timezone=True), nullable=False),
    Index("ix_warehouse_deletion_hour", "table_name", "deleted_at"),
)


def _install_change_triggers(_metadata, connection, **_kw) -> None:
    """A database built from this metadata (``billing init`` of an empty one) gets the triggers
    that migration 0008 installs on an upgraded one."""
    from billing.db.change_tracking import create_change_triggers  # names no table: no import cycle

    create_change_triggers(connection)


sqlalchemy.event.listen(metadata, "after_create", _install_change_triggers)
