"""The daily account validation on a hand-built reference world (business day 2026-03-10), on
SQLite and PostgreSQL: every rule's checked and failed counts and every error-log row are
worked out by hand in the comments; a clean world fails nothing; a re-run of the day writes
the same rows; the asset and its four checks through Dagster.

The base of the world is tests/closeofday_world.py (division US with default price list STD,
persons P1 with an e-mail and P2 without, bill cycle C1, VAT and GST rates from 2026-01-01,
service definition OLD ended 2026-03-01 and NEW without end)."""

from __future__ import annotations

from datetime import date

import pytest
from dagster import AssetCheckSeverity, DagsterInstance, materialize
from sqlalchemy import insert, update

from billing.db.schema import accounts, contracts, services, validation_error, validation_result
from billing.validation import validate_accounts
from billing_assets.account_validation import (
    account_completeness_check,
    account_validation_results,
    contract_validity_check,
    rate_consistency_check,
    service_configuration_check,
)
from resources import BillingDatabase
from tests.closeofday_world import ACCOUNT_HEADER, SERVICE_HEADER, load
from tests.world import rows

DAY = date(2026, 3, 10)
PRICING_HEADER = ("price_assignment_id,scope,scope_id,price_item_cd,param_value,start_dt,end_dt,currency_cd,ignore_txn,"
                  "aggregate_txn,rating_criteria,aggregation_schedule_cd,sqi_basis,rate_type,unit_price,package_size,"
                  "percent,fixed_amount,min_charge,max_charge\n")

# Clean: two open accounts with an e-mail each, a live CARDS contract each; PA1 (price list STD, every account of
# US) in USD, PA2 (account A1) in EUR with an EUR→USD rate, PA3 (person P2: A2) tiered; service S1 of NEW.
CLEAN = {
    "currencies": "currency_cd,minor_units\nUSD,2\nEUR,2\nJPY,0\n",
    "exchange_rates": "from_currency_cd,to_currency_cd,effective_dt,rate\nEUR,USD,2026-01-01,1.1\n",
    "accounts": ACCOUNT_HEADER + """A1,P1,US,USD,C1,OPEN,,,2025-01-01,,14,VAT,a1@example.com
A2,P2,US,USD,C1,OPEN,A1,,2025-01-01,,,,a2@example.com
""",
    "contracts": "contract_id,account_id,contract_type,status,start_dt,end_dt\n"
                 "K1,A1,CARDS,ACTIVE,2025-01-01,\nK2,A2,CARDS,ACTIVE,2025-01-01,\n",
    "price_items": "price_item_cd,description,contract_type\nCARD_FEE,Card fee,CARDS\nWIRE_FEE,Wire fee,\n",
    "pricing": PRICING_HEADER + """PA1,PRICE_LIST,STD,CARD_FEE,,2025-01-01,,USD,N,N,RITX,,TXN_COUNT,FLAT,0.30,,,,,
PA2,ACCOUNT,A1,WIRE_FEE,,2025-01-01,,EUR,N,N,RITX,,TXN_COUNT,FLAT,1.00,,,,,
PA3,PERSON,P2,WIRE_FEE,,2025-01-01,,USD,N,N,RITX,,TXN_AMOUNT,TIERED,,,,,,
""",
    "pricing_tiers": "price_assignment_id,tier_seq,up_to,unit_price,flat_amount\nPA3,1,100,0.02,\nPA3,2,,0.01,\n",
    "services": SERVICE_HEADER + "S1,A1,NEW,Fibre,OPEN,2026-01-01,,MONTHLY,31.00,2026-04-01,10,,\n",
}

# Defects, loaded (the loader accepts all of these) on top of the clean world.
DEFECTS = {
    **CLEAN,
    "accounts": CLEAN["accounts"] + """A3,P2,US,USD,C1,OPEN,,,2025-01-01,,,GST,
A4,P1,US,USD,C1,OPEN,,,2025-01-01,,,ZZ,
A5,P1,US,USD,C1,CLOSED,,,2025-01-01,2026-01-31,,,
""",
    "contracts": CLEAN["contracts"] + """K3,A3,CARDS,INACTIVE,2025-01-01,
K4,A3,CARSD,ACTIVE,2026-04-01,
K5,A4,CARDS,ACTIVE,2025-01-01,
K6,A4,CARDS,ACTIVE,2026-01-01,
K7,A5,CARDS,ACTIVE,2025-01-01,
K9,A1,CARDS,STOPPED,2024-01-01,2024-12-31
""",
    "pricing": CLEAN["pricing"] + """PA4,ACCOUNT,A4,CARD_FEE,,2025-01-01,,USD,N,N,RITX,,TXN_COUNT,FLAT,-0.10,,,,-1,
PA5,ACCOUNT,A4,WIRE_FEE,,2025-01-01,,USD,N,N,RITX,,TXN_COUNT,FIXED,,,,0,,
PA6,PRICE_LIST,STD,WIRE_FEE,ONLINE,2026-01-01,2026-06-30,USD,N,N,RITX,,TXN_COUNT,FLAT,0.50,,,,,
PA7,PRICE_LIST,STD,WIRE_FEE,ONLINE,2026-06-01,,USD,N,N,RITX,,TXN_COUNT,FLAT,0.60,,,,,
PA8,PRICE_LIST,STD,WIRE_FEE,ONLINE,2025-01-01,2026-02-28,USD,N,N,RITX,,TXN_COUNT,FLAT,0.40,,,,,
PA9,PERSON,P1,CARD_FEE,,2025-01-01,,JPY,N,N,RITX,,TXN_COUNT,FLAT,5,,,,,
PA10,PRICE_LIST,STX,CARD_FEE,,2025-01-01,,USD,N,N,RITX,,TXN_COUNT,FLAT,0.25,,,,,
""",
    "services": CLEAN["services"] + """S2,A1,NEW,TV,OPEN,2026-01-01,,MONTHLY,-5.00,,120,2026-12-31,
S3,A1,NEW,Phone,PROSPECTIVE,2026-04-01,,MONTHLY,10.00,2026-03-01,,,
S4,A1,OLD,Legacy,OPEN,2025-06-01,,MONTHLY,5.00,2026-04-01,,,
S5,A5,NEW,Line,OPEN,2025-01-01,,MONTHLY,5.00,2026-04-01,,,
S6,A2,XYZ,Extra,OPEN,2026-01-01,,MONTHLY,3.00,,,,
S7,A2,NEW,Gone,CLOSED,2025-01-01,,MONTHLY,-1.00,,,,
""",
}


def _write_what_no_load_would(engine) -> None:
    """What the loader refuses but a fix in SQL (or another writer) can leave behind: an account of an unknown
    person and bill cycle, a contract and a service of an account that does not exist."""
    with engine.begin() as conn:
        conn.execute(insert(accounts).values(account_id="A6", person_id="P9", division_cd="US", currency_cd="USD",
                                             bill_cycle_cd="X9", status="OPEN", start_dt=date(2025, 1, 1)))
        conn.execute(insert(contracts).values(contract_id="K8", account_id="GHOST", contract_type="CARDS",
                                              status="ACTIVE", start_dt=date(2025, 1, 1)))
        conn.execute(insert(services).values(service_id="S8", account_id="GHOST", service_cd="NEW", status="OPEN",
                                             start_dt=date(2026, 1, 1), bill_period="MONTHLY", price="4.00"))


@pytest.fixture
def defects(engine, tmp_path):
    load(engine, tmp_path / "reference", DEFECTS)
    _write_what_no_load_would(engine)
    return engine


# Accounts: A1..A4 and A6 OPEN, A5 CLOSED (6; 5 not closed). Contracts: K1..K9 (9); live on the day (ACTIVE,
# PENDING_STOP or STOPPED, in their dates): K1 K2 K5 K6 K7 K8 (6; K3 INACTIVE, K4 from April, K9 ended 2024); not
# ended: all but K9 (8). Pricing: PA1..PA10 (10), not ended before the day: all but PA8 (9), none ignored.
# Services: S1..S8, S7 CLOSED (7 not closed), OPEN: S1 S2 S4 S5 S6 S8 (6).
RESULTS = [
    # rule, check, entity type, severity, checked, failed
    ("ACCOUNT_NO_CONTACT", "account_completeness_check", "account", "WARNING", 5, 2),  # A3 (P2), A6 (P9 unknown)
    ("ACCOUNT_REFERENCE_UNRESOLVED", "account_completeness_check", "account", "ERROR", 6, 1),  # A6
    ("ACCOUNT_TAX_RATE_MISSING", "account_completeness_check", "account", "ERROR", 3, 1),  # A1 VAT, A3 GST, A4 ZZ
    ("ACCOUNT_WITHOUT_CONTRACT", "contract_validity_check", "account", "WARNING", 4, 1),  # A1..A4 have some; A3
    ("CONTRACT_ACCOUNT_UNKNOWN", "contract_validity_check", "contract", "ERROR", 9, 1),  # K8
    ("CONTRACT_OF_CLOSED_ACCOUNT", "contract_validity_check", "contract", "WARNING", 6, 1),  # ACTIVE on the day; K7
    ("CONTRACT_OVERLAP", "contract_validity_check", "contract", "ERROR", 6, 2),  # K5 and K6
    ("CONTRACT_TYPE_UNUSED", "contract_validity_check", "contract", "WARNING", 8, 1),  # K4 (CARSD)
    ("PRICE_NEGATIVE", "rate_consistency_check", "pricing", "ERROR", 9, 1),  # PA4
    ("PRICE_ZERO", "rate_consistency_check", "pricing", "WARNING", 9, 1),  # PA5; PA3's tiers charge
    ("PRICING_APPLIES_TO_NO_ACCOUNT", "rate_consistency_check", "pricing", "WARNING", 9, 1),  # PA10 (list STX)
    ("PRICING_NO_EXCHANGE_RATE", "rate_consistency_check", "pricing", "ERROR", 9, 1),  # PA9 (PA2 has EUR→USD)
    ("PRICING_OVERLAP", "rate_consistency_check", "pricing", "ERROR", 9, 2),  # PA6/PA7; PA8 ended before the day
    ("SERVICE_ACCOUNT_UNKNOWN", "service_configuration_check", "service", "ERROR", 8, 1),  # S8
    ("SERVICE_AFTER_DEFINITION_END", "service_configuration_check", "service", "WARNING", 6, 1),  # S4 (OLD)
    ("SERVICE_DEFINITION_UNKNOWN", "service_configuration_check", "service", "WARNING", 7, 1),  # S6 (XYZ)
    ("SERVICE_NEXT_BILL_BEFORE_START", "service_configuration_check", "service", "ERROR", 7, 1),  # S3
    ("SERVICE_OF_CLOSED_ACCOUNT", "service_configuration_check", "service", "ERROR", 7, 1),  # S5 (A5)
    ("SERVICE_PRICE_INVALID", "service_configuration_check", "service", "ERROR", 7, 1),  # S2; S7 is CLOSED
]

ERRORS = [
    # rule, entity, severity, message
    ("ACCOUNT_NO_CONTACT", "A3", "WARNING", "account A3 has no e-mail and neither has its person P2: its invoices "
     "and notices go to the operator to pass on; add an e-mail in accounts.csv or persons.csv"),
    ("ACCOUNT_NO_CONTACT", "A6", "WARNING", "account A6 has no e-mail and neither has its person P9: its invoices "
     "and notices go to the operator to pass on; add an e-mail in accounts.csv or persons.csv"),
    ("ACCOUNT_REFERENCE_UNRESOLVED", "A6", "ERROR", "account A6 refers to unknown person P9, bill cycle X9: load "
     "the missing rows (persons.csv, divisions.csv, currencies.csv, bill_cycles.csv, accounts.csv) or correct the "
     "account in accounts.csv"),
    ("ACCOUNT_TAX_RATE_MISSING", "A4", "ERROR", "account A4 has tax code ZZ but no rate of it is effective on "
     "2026-03-10: its bills would be taxed at 0; load the rate in tax_rates.csv or correct tax_cd in accounts.csv"),
    ("ACCOUNT_WITHOUT_CONTRACT", "A3", "WARNING", "account A3 is OPEN but none of its contracts is in effect and "
     "live on 2026-03-10: transactions of price items that need a contract fail NO_CONTRACT or CONTRACT_INACTIVE; "
     "renew the contract in contracts.csv or close the account"),
    ("CONTRACT_ACCOUNT_UNKNOWN", "K8", "ERROR", "contract K8 belongs to unknown account GHOST: load the account in "
     "accounts.csv or correct account_id in contracts.csv"),
    ("CONTRACT_OF_CLOSED_ACCOUNT", "K7", "WARNING", "contract K7 is ACTIVE on 2026-03-10 but its account A5 is "
     "CLOSED: give it an end date or make it STOPPED or INACTIVE in contracts.csv"),
    ("CONTRACT_OVERLAP", "K5", "ERROR", "contract K5 of account A4 (type CARDS) is in effect on 2026-03-10 together "
     "with contract K6: transactions of CARDS price items fail MULTIPLE_CONTRACTS; in contracts.csv end all but "
     "one before the day or make them INACTIVE"),
    ("CONTRACT_OVERLAP", "K6", "ERROR", "contract K6 of account A4 (type CARDS) is in effect on 2026-03-10 together "
     "with contract K5: transactions of CARDS price items fail MULTIPLE_CONTRACTS; in contracts.csv end all but "
     "one before the day or make them INACTIVE"),
    ("CONTRACT_TYPE_UNUSED", "K4", "WARNING", "contract K4 of account A3 has type CARSD, which no price item needs "
     "(price_items.csv contract_type), so it covers nothing: correct contract_type in contracts.csv"),
    ("PRICE_NEGATIVE", "PA4", "ERROR", "price assignment PA4 (CARD_FEE, FLAT) has negative unit_price -0.10, "
     "min_charge -1: its charges would be credits; correct it in pricing.csv (tiers in pricing_tiers.csv)"),
    ("PRICE_ZERO", "PA5", "WARNING", "price assignment PA5 (WIRE_FEE, FIXED) charges 0 for every transaction it "
     "rates: correct the price in pricing.csv (tiers in pricing_tiers.csv), or set ignore_txn Y if these "
     "transactions are not to be charged"),
    ("PRICING_APPLIES_TO_NO_ACCOUNT", "PA10", "WARNING", "price assignment PA10 (CARD_FEE, FLAT) of scope PRICE_LIST "
     "STX applies to no account: correct scope_id in pricing.csv (a price list is an account's price_list_cd or a "
     "division's default_price_list_cd) or end the assignment"),
    # PA9 (person P1) reaches A1 and A4 in USD, not A5 (CLOSED); there is no JPY→USD rate.
    ("PRICING_NO_EXCHANGE_RATE", "PA9", "ERROR", "price assignment PA9 (CARD_FEE, FLAT) prices in JPY but 2 "
     "account(s) it applies to bill in a currency it has no exchange rate to effective on 2026-03-10 (first: "
     "account A1): their bills would hold its charges in ERROR; load the rates in exchange_rates.csv"),
    ("PRICING_OVERLAP", "PA6", "ERROR", "price assignment PA6 (WIRE_FEE, FLAT) overlaps price assignment PA7 (same "
     "scope PRICE_LIST STD, price item and param_value) on or after 2026-03-10: transactions in both periods fail "
     "AMBIGUOUS_PRICING; in pricing.csv end one before the other starts"),
    ("PRICING_OVERLAP", "PA7", "ERROR", "price assignment PA7 (WIRE_FEE, FLAT) overlaps price assignment PA6 (same "
     "scope PRICE_LIST STD, price item and param_value) on or after 2026-03-10: transactions in both periods fail "
     "AMBIGUOUS_PRICING; in pricing.csv end one before the other starts"),
    ("SERVICE_ACCOUNT_UNKNOWN", "S8", "ERROR", "service S8 belongs to unknown account GHOST: load the account in "
     "accounts.csv or correct account_id in services.csv"),
    ("SERVICE_AFTER_DEFINITION_END", "S4", "WARNING", "service S4 is OPEN after its definition OLD ended on "
     "2026-03-01: give the service an end date, or move it to a current service code, in services.csv"),
    ("SERVICE_DEFINITION_UNKNOWN", "S6", "WARNING", "service S6 has service code XYZ, which service_definitions.csv "
     "does not define, so no definition end date ever stops it: add the definition or correct service_cd in "
     "services.csv"),
    ("SERVICE_NEXT_BILL_BEFORE_START", "S3", "ERROR", "service S3 has next_bill_dt 2026-03-01 before its start_dt "
     "2026-04-01: it would be billed for days before it starts; in services.csv set next_bill_dt on or after "
     "start_dt, or leave it empty"),
    ("SERVICE_OF_CLOSED_ACCOUNT", "S5", "ERROR", "service S5 is OPEN but its account A5 is CLOSED: make the service "
     "CLOSED in services.csv or reopen the account"),
    ("SERVICE_PRICE_INVALID", "S2", "ERROR", "service S2 of account A1 has price -5.00 (must not be negative), "
     "discount_percent 120 (must be 0 to 100): its recurring charges would be wrong; correct it in services.csv"),
]


def _results(engine, day=DAY):
    """The day's results, sorted here (PostgreSQL collations may order underscores otherwise)."""
    return sorted(rows(engine, validation_result, "rule_cd", "check_name", "entity_type", "severity", "checked_count",
                       "failed_count", "outcome", where=validation_result.c.business_dt == day))


def _errors(engine, day=DAY):
    return sorted(rows(engine, validation_error, "rule_cd", "entity_id", "severity", "message",
                       where=validation_error.c.business_dt == day))


def _expected_results():
    return [(rule, check, kind, severity, checked, failed, "FAILED" if failed else "PASSED")
            for rule, check, kind, severity, checked, failed in RESULTS]


def test_every_rule_finds_its_defects_and_only_them(defects):
    with defects.begin() as conn:
        summary = validate_accounts(conn, DAY)
    assert _results(defects) == _expected_results()
    assert _errors(defects) == ERRORS
    assert summary.failed_by_severity == {"ERROR": 13, "WARNING": 9}
    # The sample: errors first, by rule and entity.
    assert [(f["rule"], f["entity"]) for f in summary.failures[:3]] == [
        ("ACCOUNT_REFERENCE_UNRESOLVED", "A6"), ("ACCOUNT_TAX_RATE_MISSING", "A4"), ("CONTRACT_ACCOUNT_UNKNOWN", "K8")]
    assert len(summary.failures) == 10


def test_a_clean_world_fails_nothing(engine, tmp_path):
    load(engine, tmp_path / "reference", CLEAN)
    with engine.begin() as conn:
        summary = validate_accounts(conn, DAY)
    assert summary.failures == []
    assert summary.failed_by_severity == {"ERROR": 0, "WARNING": 0}
    assert {row[6] for row in _results(engine)} == {"PASSED"}
    assert _errors(engine) == []
    # Nothing is vacuous: every family looked at something (A1 A2, K1 K2, PA1..PA3, S1).
    assert all(row[4] > 0 for row in _results(engine))


def test_re_running_a_day_replaces_its_rows(defects):
    for _ in range(2):
        with defects.begin() as conn:
            validate_accounts(conn, DAY)
    assert _results(defects) == _expected_results()
    assert _errors(defects) == ERRORS
    later = date(2026, 7, 1)
    with defects.begin() as conn:
        conn.execute(update(accounts).where(accounts.c.account_id == "A4").values(tax_cd="VAT"))  # fixed
        validate_accounts(conn, later)
        validate_accounts(conn, DAY)
    # The re-run of DAY sees the fix; the rest of its rows are as before.
    assert _errors(defects) == [e for e in ERRORS if e[0] != "ACCOUNT_TAX_RATE_MISSING"]
    # On 2026-07-01 PA6 has ended (2026-06-30): no overlap left, and K4 (from April) is A3's only live contract.
    later_rules = {row[0]: row[5] for row in _results(defects, later)}
    assert later_rules["PRICING_OVERLAP"] == 0
    assert later_rules["ACCOUNT_WITHOUT_CONTRACT"] == 0
    assert later_rules["CONTRACT_TYPE_UNUSED"] == 1


def test_the_asset_and_its_checks_in_dagster(defects, db_url, billing_home):
    result = materialize(
        [account_validation_results, account_completeness_check, contract_validity_check, rate_consistency_check,
         service_configuration_check],
        partition_key=DAY.isoformat(), instance=DagsterInstance.ephemeral(),
        resources={"database": BillingDatabase(url=db_url)})
    assert result.success
    metadata = result.asset_materializations_for_node("account_validation_results")[0].metadata
    assert (metadata["errors"].value, metadata["warnings"].value) == (13, 9)
    assert "| ACCOUNT_REFERENCE_UNRESOLVED | ERROR | 6 | 1 |" in metadata["results"].value
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert {name: (e.passed, e.severity, e.metadata["errors"].value, e.metadata["warnings"].value)
            for name, e in evaluations.items()} == {
        "account_completeness_check": (False, AssetCheckSeverity.ERROR, 2, 2),
        "contract_validity_check": (False, AssetCheckSeverity.ERROR, 3, 3),
        "rate_consistency_check": (False, AssetCheckSeverity.ERROR, 4, 2),
        "service_configuration_check": (False, AssetCheckSeverity.ERROR, 4, 2),
    }
    assert "A6" in evaluations["account_completeness_check"].metadata["sample"].value
    assert _errors(defects) == ERRORS


def test_a_family_with_warnings_only_warns(engine, tmp_path, db_url, billing_home):
    # The clean world, but A2 without its e-mail (P2 has none): one ACCOUNT_NO_CONTACT warning, nothing else.
    load(engine, tmp_path / "reference", CLEAN)
    with engine.begin() as conn:
        conn.execute(update(accounts).where(accounts.c.account_id == "A2").values(email=None))
    result = materialize(
        [account_validation_results, account_completeness_check, contract_validity_check],
        partition_key=DAY.isoformat(), instance=DagsterInstance.ephemeral(),
        resources={"database": BillingDatabase(url=db_url)})
    evaluations = {e.check_name: (e.passed, e.severity) for e in result.get_asset_check_evaluations()}
    assert evaluations == {"account_completeness_check": (False, AssetCheckSeverity.WARN),
                           "contract_validity_check": (True, AssetCheckSeverity.WARN)}
