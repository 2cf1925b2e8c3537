"""The reference data loader (DESIGN §4.4): exact rows, upsert by key, versions, refusals.

Every refusal is checked twice: the problem names file, line and column, and the database is
exactly as it was — the bad folder always also carries a valid change (a new currency) that
must not have been written either.
"""

from __future__ import annotations

import codecs
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from billing.db import schema
from billing.db.change_tracking import STAMP
from billing.errors import ReferenceDataError
from billing.reference.loader import ReferenceLoadReport, load_reference
from billing.reference.spec import FILES, KEPT_BY_CLOSE_OF_DAY, Kind

# One compact, valid folder: every file, every column kind, a reference resolved in the folder.
BASE: dict[str, list[str]] = {
    "currencies": ["currency_cd,minor_units", "USD,2", "EUR,2"],
    "divisions": [
        "division_cd,name,currency_cd,processing_date_basis,default_price_list_cd",
        "US,United States,USD,TXN_DATE,STD",
    ],
    "persons": ["person_id,name,email", "P1,Ann Lee,ann@example.com"],
    "bill_cycles": ["bill_cycle_cd,close_day", "M1,28"],
    "accounts": [
        "account_id,person_id,division_cd,currency_cd,bill_cycle_cd,status,parent_account_id,"
        "price_list_cd,start_dt,end_dt,payment_terms_days,tax_cd,email",
        "A1,P1,US,USD,M1,OPEN,,STD,2026-01-01,,30,VAT,",
        "A2,P1,US,USD,M1,OPEN,A1,,2026-01-01,2026-12-31,,,a2@example.com",
    ],
    "contracts": [
        "contract_id,account_id,contract_type,status,start_dt,end_dt",
        "C1,A1,CARD,ACTIVE,2026-01-01,",
    ],
    "price_items": ["price_item_cd,description,contract_type", "FEE,Card fee,CARD", "VOL,Volume,"],
    "pricing": [
        "price_assignment_id,scope,scope_id,price_item_cd,param_value,start_dt,end_dt,currency_cd,"
        "ignore_txn,aggregate_txn,rating_criteria,aggregation_schedule_cd,sqi_basis,rate_type,"
        "unit_price,package_size,percent,fixed_amount,min_charge,max_charge",
        "PA1,ACCOUNT,A1,FEE,,2026-01-01,,USD,N,N,RITX,,TXN_COUNT,FLAT,0.25,,,,,",
        "PA2,PRICE_LIST,STD,VOL,WEB,2026-01-01,2026-12-31,USD,N,Y,AGTR,MONTH,TXN_VOLUME,TIERED,"
        ",,,,1.00,100.00",
    ],
    "pricing_tiers": [
        "price_assignment_id,tier_seq,up_to,unit_price,flat_amount",
        "PA2,1,100,0.10,",
        "PA2,2,,0.05,1.50",
    ],
    "aggregation_periods": ["schedule_cd,period_start,period_end", "MONTH,2026-01-01,2026-01-31"],
    "derivation_rules": [
        "rule_id,division_cd,txn_source,product_code,channel,priority,start_dt,end_dt",
        "R1,US,BANKA,,,10,2026-01-01,",
    ],
    "rule_legs": [
        "rule_id,leg_seq,account_basis,fixed_account_id,price_item_cd,param_source",
        "R1,1,TXN_ACCOUNT,,FEE,channel",
        "R1,2,FIXED,A2,VOL,",
    ],
    "exchange_rates": [
        "from_currency_cd,to_currency_cd,effective_dt,rate",
        "EUR,USD,2026-01-01,1.085",
    ],
    "tax_rates": ["tax_cd,effective_dt,rate_percent", "VAT,2026-01-01,20"],
    "services": [
        "service_id,account_id,service_cd,description,status,start_dt,end_dt,bill_period,price,"
        "next_bill_dt,discount_percent,discount_expires_dt,reopen_dt",
        "S1,A1,HOSTING,Web hosting,OPEN,2026-01-01,,MONTHLY,9.99,2026-02-01,10,2026-06-30,",
    ],
    "service_definitions": [
        "service_cd,description,end_dt",
        "HOSTING,Web hosting,2027-12-31",
    ],
}


ALL_FILES = ",".join(sorted(f"{name}.csv" for name in BASE))


def write_folder(path, files: dict[str, list[str]]):
    path.mkdir()
    for name, lines in files.items():
        (path / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def edited(files: dict[str, list[str]], name: str, line: int, /, **cells: str) -> dict:
    """A copy of ``files`` with the named cells of line ``line`` (header = 1) changed."""
    lines = list(files[name])
    header = lines[0].split(",")
    values = lines[line - 1].split(",")
    for column, value in cells.items():
        values[header.index(column)] = value
    lines[line - 1] = ",".join(values)
    return {**files, name: lines}


def appended(files: dict[str, list[str]], name: str, *lines: str) -> dict:
    return {**files, name: [*files.get(name, [BASE[name][0]]), *lines]}


def snapshot(engine) -> dict[str, list]:
    with engine.connect() as conn:
        return {
            table.name: sorted(conn.execute(select(table)).all(), key=repr)
            for table in schema.metadata.sorted_tables
        }


def rows(engine, table) -> list[tuple]:
    """The rows as loaded: the file's columns, not those the close of day keeps nor the
    database's change stamp."""
    key = list(table.primary_key.columns)
    loaded = [c for c in table.c if c.name not in {*KEPT_BY_CLOSE_OF_DAY.get(table.name, ()), STAMP}]
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(*loaded).order_by(*key))]


@pytest.fixture
def loaded(engine, tmp_path) -> ReferenceLoadReport:
    return load_reference(engine, write_folder(tmp_path / "base", BASE))


def test_spec_matches_schema_and_design_headers():
    for spec in FILES:
        table = schema.metadata.tables[spec.name]
        assert spec.column_names == tuple(BASE[spec.name][0].split(",")), spec.name
        kept = {*KEPT_BY_CLOSE_OF_DAY.get(spec.name, ()), STAMP}
        assert set(spec.column_names) == set(table.c.keys()) - kept, spec.name
        assert spec.key == tuple(c.name for c in table.primary_key.columns), spec.name
        for column in spec.columns:
            assert column.required == (not table.c[column.name].nullable), column.name
            if column.kind is Kind.TEXT:  # the loader refuses what the column cannot hold
                assert table.c[column.name].type.length, column.name


def test_load_writes_exact_rows(engine, loaded):
    assert loaded.row_counts == {name: len(lines) - 1 for name, lines in BASE.items()}
    assert rows(engine, schema.currencies) == [("EUR", 2), ("USD", 2)]
    assert rows(engine, schema.accounts) == [
        ("A1", "P1", "US", "USD", "M1", "OPEN", None, "STD", date(2026, 1, 1), None, 30, "VAT",
         None),
        ("A2", "P1", "US", "USD", "M1", "OPEN", "A1", None, date(2026, 1, 1), date(2026, 12, 31),
         None, None, "a2@example.com"),
    ]
    assert rows(engine, schema.pricing) == [
        ("PA1", "ACCOUNT", "A1", "FEE", None, date(2026, 1, 1), None, "USD", "N", "N", "RITX",
         None, "TXN_COUNT", "FLAT", Decimal("0.25"), None, None, None, None, None),
        ("PA2", "PRICE_LIST", "STD", "VOL", "WEB", date(2026, 1, 1), date(2026, 12, 31), "USD",
         "N", "Y", "AGTR", "MONTH", "TXN_VOLUME", "TIERED", None, None, None, None,
         Decimal("1.00"), Decimal("100.00")),
    ]
    assert rows(engine, schema.pricing_tiers) == [
        ("PA2", 1, Decimal("100"), Decimal("0.10"), None),
        ("PA2", 2, None, Decimal("0.05"), Decimal("1.50")),
    ]
    assert rows(engine, schema.rule_legs) == [
        ("R1", 1, "TXN_ACCOUNT", None, "FEE", "channel"),
        ("R1", 2, "FIXED", "A2", "VOL", None),
    ]
    assert rows(engine, schema.exchange_rates) == [
        ("EUR", "USD", date(2026, 1, 1), Decimal("1.085"))
    ]
    assert rows(engine, schema.services) == [
        ("S1", "A1", "HOSTING", "Web hosting", "OPEN", date(2026, 1, 1), None, "MONTHLY",
         Decimal("9.99"), date(2026, 2, 1), Decimal("10"), date(2026, 6, 30), None),
    ]
    stored = snapshot(engine)
    for name, lines in BASE.items():
        assert len(stored[name]) == len(lines) - 1, name
    assert all(type(v) is Decimal for v in rows(engine, schema.pricing)[1][18:20])


def test_load_records_a_version(engine, loaded):
    [(load_id, loaded_at, content_hash, files, row_counts)] = rows(engine, schema.reference_load)
    assert (load_id, content_hash) == (loaded.load_id, loaded.content_hash)
    assert len(content_hash) == 64 and int(content_hash, 16) >= 0
    assert files == ALL_FILES
    assert json.loads(row_counts) == loaded.row_counts
    if loaded_at.tzinfo is None:  # SQLite keeps no time zone; the loader wrote UTC
        loaded_at = loaded_at.replace(tzinfo=timezone.utc)
    assert abs(datetime.now(timezone.utc) - loaded_at) < timedelta(minutes=1)


def test_second_load_upserts_by_key_and_leaves_other_files_alone(engine, tmp_path, loaded):
    before = snapshot(engine)
    first_a1 = rows(engine, schema.accounts)[0]
    # Only accounts.csv: A2 changed, A3 new (its person, division … are only in the database).
    changed = {"accounts": [BASE["accounts"][0], BASE["accounts"][2]]}
    changed = edited(changed, "accounts", 2, status="SUSPENDED", email="")
    changed = appended(changed, "accounts", "A3,P1,US,EUR,M1,OPEN,A2,,2026-03-01,,,,")
    report = load_reference(engine, write_folder(tmp_path / "second", changed))

    assert report.row_counts == {"accounts": 2}
    assert report.load_id > loaded.load_id and report.content_hash != loaded.content_hash
    after = snapshot(engine)
    assert rows(engine, schema.accounts) == [
        first_a1,  # A1 untouched
        ("A2", "P1", "US", "USD", "M1", "SUSPENDED", "A1", None, date(2026, 1, 1),
         date(2026, 12, 31), None, None, None),
        ("A3", "P1", "US", "EUR", "M1", "OPEN", "A2", None, date(2026, 3, 1), None, None, None,
         None),
    ]
    for name in BASE:
        if name != "accounts":
            assert after[name] == before[name], name
    assert [r[3] for r in rows(engine, schema.reference_load)] == [ALL_FILES, "accounts.csv"]


def test_same_bytes_give_the_same_content_hash(engine, tmp_path, loaded):
    again = load_reference(engine, write_folder(tmp_path / "again", BASE))
    assert again.content_hash == loaded.content_hash and again.load_id != loaded.load_id
    renamed = edited(BASE, "persons", 2, name="Ann Leigh")
    assert load_reference(engine, write_folder(tmp_path / "other", renamed)).content_hash != (
        loaded.content_hash
    )


def test_tiered_pricing_may_rely_on_tiers_in_the_database(engine, tmp_path, loaded):
    folder = write_folder(tmp_path / "pricing", {"pricing": BASE["pricing"]})
    assert load_reference(engine, folder).row_counts == {"pricing": 2}


def test_each_file_is_one_executemany_upsert(engine, tmp_path):
    statements = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT"):
            statements.append(statement.split("(")[0].split()[-1].strip('"'))

    load_reference(engine, write_folder(tmp_path / "base", BASE))
    # … plus the load's version row and its pricing changes (every assignment is new here).
    assert sorted(statements) == sorted([*BASE, "reference_load", "pricing_change"])


NEW_CURRENCY = appended(BASE, "currencies", "JPY,0")  # a valid change that must not be written

BAD_FOLDERS = {
    "unknown division": (
        edited(NEW_CURRENCY, "accounts", 3, division_cd="XX"),
        "accounts.csv, line 3, column division_cd: unknown division 'XX' "
        "(not in divisions.csv nor in the database)",
    ),
    "unknown parent account": (
        edited(NEW_CURRENCY, "accounts", 3, parent_account_id="A9"),
        "accounts.csv, line 3, column parent_account_id: unknown parent account 'A9'",
    ),
    "unknown person in PERSON scope": (
        edited(NEW_CURRENCY, "pricing", 2, scope="PERSON", scope_id="A1"),
        "pricing.csv, line 2, column scope_id: unknown person 'A1'",
    ),
    "unknown account in ACCOUNT scope": (
        edited(NEW_CURRENCY, "pricing", 2, scope_id="P1"),
        "pricing.csv, line 2, column scope_id: unknown account 'P1'",
    ),
    "unknown aggregation schedule": (
        edited(NEW_CURRENCY, "pricing", 3, aggregation_schedule_cd="WEEK"),
        "pricing.csv, line 3, column aggregation_schedule_cd: unknown aggregation schedule 'WEEK'",
    ),
    "unknown exchange currency": (
        edited(NEW_CURRENCY, "exchange_rates", 2, to_currency_cd="GBP"),
        "exchange_rates.csv, line 2, column to_currency_cd: unknown currency 'GBP'",
    ),
    "unknown fixed account": (
        edited(NEW_CURRENCY, "rule_legs", 3, fixed_account_id="A9"),
        "rule_legs.csv, line 3, column fixed_account_id: unknown account 'A9'",
    ),
    "unknown tier price assignment": (
        edited(NEW_CURRENCY, "pricing_tiers", 3, price_assignment_id="PA9", up_to="5"),
        "pricing_tiers.csv, line 3, column price_assignment_id: unknown price assignment 'PA9'",
    ),
    "missing header column": (
        {**NEW_CURRENCY, "persons": ["person_id,name", "P1,Ann Lee"]},
        "persons.csv, line 1, column email: missing column (the header must name: "
        "person_id, name, email)",
    ),
    "unknown header column": (
        {**NEW_CURRENCY, "persons": ["person_id,name,email,phone", "P1,Ann Lee,,555"]},
        "persons.csv, line 1, column phone: unknown column (allowed: person_id, name, email)",
    ),
    "unknown file": (
        {**NEW_CURRENCY, "customers": ["id", "1"]},
        "customers.csv: unknown reference file (allowed: currencies.csv, divisions.csv,",
    ),
    "duplicate key": (
        appended(NEW_CURRENCY, "pricing_tiers", "PA2,01,200,0.01,"),
        "pricing_tiers.csv, line 4, column price_assignment_id+tier_seq: duplicate key "
        "price_assignment_id=PA2, tier_seq=01 (first on line 2)",
    ),
    "wrong cell count": (
        appended(NEW_CURRENCY, "tax_rates", "VAT,2027-01-01"),
        "tax_rates.csv, line 3: 2 cells but the header has 3 columns",
    ),
    "bad date": (
        edited(NEW_CURRENCY, "contracts", 2, start_dt="2026-02-30"),
        "contracts.csv, line 2, column start_dt: '2026-02-30' is not a date (YYYY-MM-DD",
    ),
    "date not ISO": (
        edited(NEW_CURRENCY, "contracts", 2, end_dt="20261231"),
        "contracts.csv, line 2, column end_dt: '20261231' is not a date",
    ),
    "bad decimal": (
        edited(NEW_CURRENCY, "services", 2, price="9.99 USD"),
        "services.csv, line 2, column price: '9.99 USD' is not a decimal number",
    ),
    "bad int": (
        edited(NEW_CURRENCY, "derivation_rules", 2, priority="1.5"),
        "derivation_rules.csv, line 2, column priority: '1.5' is not a whole number",
    ),
    "bad flag": (
        edited(NEW_CURRENCY, "pricing", 2, ignore_txn="y"),
        "pricing.csv, line 2, column ignore_txn: 'y' is not a flag (allowed: Y, N)",
    ),
    "bad enum": (
        edited(NEW_CURRENCY, "accounts", 2, status="ACTIVE"),
        "accounts.csv, line 2, column status: 'ACTIVE' is not allowed (allowed: OPEN, SUSPENDED, "
        "CLOSED)",
    ),
    "bad optional enum": (
        edited(NEW_CURRENCY, "rule_legs", 2, param_source="amount"),
        "rule_legs.csv, line 2, column param_source: 'amount' is not allowed (allowed: channel, "
        "currency, product_code, or empty)",
    ),
    "required cell empty": (
        edited(NEW_CURRENCY, "persons", 2, name=""),
        "persons.csv, line 2, column name: required, must not be empty",
    ),
    "text too long": (
        edited(NEW_CURRENCY, "divisions", 2, currency_cd="USDX"),
        "divisions.csv, line 2, column currency_cd: 'USDX' is 4 characters long (at most 3)",
    ),
    "close day 29": (
        edited(NEW_CURRENCY, "bill_cycles", 2, close_day="29"),
        "bill_cycles.csv, line 2, column close_day: 29 is out of range (allowed: 1 to 28)",
    ),
    "minor units 7": (
        edited(NEW_CURRENCY, "currencies", 3, minor_units="7"),
        "currencies.csv, line 3, column minor_units: 7 is out of range (allowed: 0 to 6)",
    ),
    "leg seq 100": (
        edited(NEW_CURRENCY, "rule_legs", 3, leg_seq="100"),
        "rule_legs.csv, line 3, column leg_seq: 100 is out of range (allowed: 1 to 99)",
    ),
    "start after end": (
        edited(NEW_CURRENCY, "accounts", 3, start_dt="2027-01-01"),
        "accounts.csv, line 3, column start_dt: start_dt 2027-01-01 is after end_dt 2026-12-31; "
        "it must be on or before it",
    ),
    "period start after end": (
        edited(NEW_CURRENCY, "aggregation_periods", 2, period_end="2025-12-31"),
        "aggregation_periods.csv, line 2, column period_start: period_start 2026-01-01 is after "
        "period_end 2025-12-31",
    ),
    "min charge above max": (
        edited(NEW_CURRENCY, "pricing", 3, min_charge="100.01"),
        "pricing.csv, line 3, column min_charge: min_charge 100.01 is above max_charge 100.00; "
        "it must be at most it",
    ),
    "FIXED leg without account": (
        edited(NEW_CURRENCY, "rule_legs", 3, fixed_account_id=""),
        "rule_legs.csv, line 3, column fixed_account_id: required when account_basis is FIXED",
    ),
    "account on a non-FIXED leg": (
        edited(NEW_CURRENCY, "rule_legs", 2, fixed_account_id="A1"),
        "rule_legs.csv, line 2, column fixed_account_id: must be empty when account_basis is "
        "TXN_ACCOUNT",
    ),
    "pricing combination": (
        edited(NEW_CURRENCY, "pricing", 3, rating_criteria="RITX"),
        "pricing.csv, line 3, column rating_criteria: ignore_txn=N, aggregate_txn=Y, "
        "rating_criteria=RITX is not a valid combination (allowed ignore_txn/aggregate_txn/"
        "rating_criteria: Y/any/RITX, Y/any/DNRT, N/N/RITX, N/N/DNRT, N/Y/RITA, N/Y/AGTR, "
        "N/Y/DNRT)",
    ),
    "aggregation without schedule": (
        edited(NEW_CURRENCY, "pricing", 3, aggregation_schedule_cd=""),
        "pricing.csv, line 3, column aggregation_schedule_cd: required when aggregate_txn is Y",
    ),
    "FLAT without unit price": (
        edited(NEW_CURRENCY, "pricing", 2, unit_price=""),
        "pricing.csv, line 2, column unit_price: required when rate_type is FLAT",
    ),
    "PERCENT without percent": (
        edited(NEW_CURRENCY, "pricing", 2, rate_type="PERCENT"),
        "pricing.csv, line 2, column percent: required when rate_type is PERCENT",
    ),
    "FIXED without amount": (
        edited(NEW_CURRENCY, "pricing", 2, rate_type="FIXED"),
        "pricing.csv, line 2, column fixed_amount: required when rate_type is FIXED",
    ),
    "PACKAGE without size": (
        edited(NEW_CURRENCY, "pricing", 2, rate_type="PACKAGE"),
        "pricing.csv, line 2, column package_size: required when rate_type is PACKAGE",
    ),
    "PACKAGE of size 0": (
        edited(NEW_CURRENCY, "pricing", 2, rate_type="PACKAGE", package_size="0"),
        "pricing.csv, line 2, column package_size: 0 must be greater than 0",
    ),
    "VOLUME without tiers": (
        edited(NEW_CURRENCY, "pricing", 2, rate_type="VOLUME"),
        "pricing.csv, line 2, column rate_type: rate_type VOLUME needs at least one row for price "
        "assignment 'PA1' in pricing_tiers.csv or the database; there is none",
    ),
    "tiers not ascending": (
        edited(NEW_CURRENCY, "pricing_tiers", 3, up_to="100"),
        "pricing_tiers.csv, line 3, column up_to: up_to 100 of tier 2 is not above the up_to 100 "
        "of tier 1 (line 2)",
    ),
    "empty up_to before the last tier": (
        appended(NEW_CURRENCY, "pricing_tiers", "PA2,3,500,0.01,"),
        "pricing_tiers.csv, line 3, column up_to: tier 2 (line 3) has an empty up_to but is "
        "followed by tier 3; only the last tier may leave up_to empty",
    ),
    "last tier with a limit": (
        edited(NEW_CURRENCY, "pricing_tiers", 3, up_to="500"),
        "pricing_tiers.csv, line 3, column up_to: tier 2 is the last tier but has up_to 500; the last "
        "tier must leave up_to empty (no limit), so that every quantity has a price",
    ),
    "exchange rate 0": (
        edited(NEW_CURRENCY, "exchange_rates", 2, rate="0.000"),
        "exchange_rates.csv, line 2, column rate: 0.000 must be greater than 0",
    ),
}


@pytest.mark.parametrize("case", BAD_FOLDERS, ids=list(BAD_FOLDERS))
def test_bad_folder_is_refused_whole(engine, tmp_path, loaded, case):
    files, expected = BAD_FOLDERS[case]
    before = snapshot(engine)
    with pytest.raises(ReferenceDataError) as refused:
        load_reference(engine, write_folder(tmp_path / "bad", files))
    assert any(p.startswith(expected) for p in refused.value.problems), refused.value.problems
    assert snapshot(engine) == before


def test_every_problem_is_reported_in_file_order_on_an_empty_database(engine, tmp_path):
    files = edited(BASE, "accounts", 2, division_cd="XX", start_dt="soon")
    files = edited(files, "currencies", 2, minor_units="two")
    with pytest.raises(ReferenceDataError) as refused:
        load_reference(engine, write_folder(tmp_path / "bad", files))
    assert refused.value.problems == [
        "currencies.csv, line 2, column minor_units: 'two' is not a whole number (e.g. 12)",
        "accounts.csv, line 2, column start_dt: 'soon' is not a date (YYYY-MM-DD, "
        "e.g. 2026-01-31)",
        "accounts.csv, line 2, column division_cd: unknown division 'XX' "
        "(not in divisions.csv nor in the database)",
    ]
    assert all(not table_rows for table_rows in snapshot(engine).values())


def test_tiers_are_checked_together_with_those_in_the_database(engine, tmp_path, loaded):
    before = snapshot(engine)
    folder = write_folder(tmp_path / "tiers", appended({}, "pricing_tiers", "PA2,3,,0.01,"))
    with pytest.raises(ReferenceDataError) as refused:
        load_reference(engine, folder)
    assert refused.value.problems == [
        "pricing_tiers.csv, line 2, column up_to: tier 2 (in the database) has an empty up_to but "
        "is followed by tier 3; only the last tier may leave up_to empty",
    ]
    assert snapshot(engine) == before


def test_file_that_is_not_utf8_is_one_problem(engine, tmp_path, loaded):
    before = snapshot(engine)
    folder = write_folder(tmp_path / "latin1", {"currencies": BASE["currencies"]})
    latin1 = "person_id,name,email\nP1,Ann,\nP2,Zoë,\n".encode("latin-1")
    (folder / "persons.csv").write_bytes(codecs.BOM_UTF8 + latin1)
    with pytest.raises(ReferenceDataError) as refused:
        load_reference(engine, folder)
    assert refused.value.problems == [
        "persons.csv, line 3: not valid UTF-8 (byte 0xeb); save the file as UTF-8"
    ]
    assert snapshot(engine) == before


def test_utf8_bom_quotes_and_blank_lines_are_read_as_written(engine, tmp_path):
    folder = write_folder(tmp_path / "bom", {})
    text = (
        '\ufeffperson_id , name ,email\n\n P1 ,"Lee, Ann ",\n'
        '"P2","Zoë ""Z"" Ng",z@example.com\n\n'
    )
    (folder / "persons.csv").write_text(text, encoding="utf-8")
    assert load_reference(engine, folder).row_counts == {"persons": 2}
    assert rows(engine, schema.persons) == [
        ("P1", "Lee, Ann", None),
        ("P2", 'Zoë "Z" Ng', "z@example.com"),
    ]


def test_file_names_are_exact(engine, tmp_path):
    folder = write_folder(tmp_path / "upper", {})
    (folder / "Persons.CSV").write_text("\n".join(BASE["persons"]), encoding="utf-8")
    with pytest.raises(ReferenceDataError) as refused:
        load_reference(engine, folder)
    assert refused.value.problems[0].startswith("Persons.CSV: unknown reference file (allowed: ")


def test_missing_folder_and_empty_folder_are_refused(engine, tmp_path):
    with pytest.raises(ReferenceDataError, match="not a folder"):
        load_reference(engine, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReferenceDataError, match="no reference files"):
        load_reference(engine, tmp_path / "empty")
    assert all(not table_rows for table_rows in snapshot(engine).values())


def test_a_load_records_what_it_changed_in_pricing_and_from_when(engine, tmp_path):
    load_reference(engine, write_folder(tmp_path / "base", BASE))
    first = {pa: (str(d), status) for pa, d, status in _changes(engine)}
    assert first and {status for _, status in first.values()} == {"NEW"}
    row = dict(zip(BASE["pricing"][0].split(","), BASE["pricing"][1].split(",")))
    moved_end = edited(BASE, "pricing", 2, end_dt="2026-03-31")
    before = len(_changes(engine))
    load_reference(engine, write_folder(tmp_path / "end", {"pricing": moved_end["pricing"]}))
    # Only the assignment whose end date moved is a change, from the day after its new end.
    assert _changes(engine)[before:] == [(row["price_assignment_id"], date(2026, 4, 1), "NEW")]
    load_reference(engine, write_folder(tmp_path / "same", {"pricing": moved_end["pricing"]}))
    assert len(_changes(engine)) == before + 1  # the same file again changes nothing


def _changes(engine):
    from billing.db.schema import pricing_change

    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(pricing_change.c.price_assignment_id, pricing_change.c.from_dt, pricing_change.c.status)
            .order_by(pricing_change.c.load_id, pricing_change.c.price_assignment_id))]
