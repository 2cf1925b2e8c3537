"""Properties of rating, on the real SQL expressions, database and job.

The expected values of rate(q) come from a plain, independent reading of DESIGN §5 written
here, not from the code under test; the charges of two feeds are compared with those of one.
"""

import itertools
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, literal, select

from billing.db.money import Money
from billing.db.schema import bill_chg, currencies, pricing, pricing_tiers
from billing.rating import rate, rate_charge
from tests.test_golden_rating import MODELS, _item, load_grid
from tests.world import forget_feeds, run_feed, write_feed

TIERS = [(Decimal(100), Decimal("0.02"), Decimal("1.00")), (Decimal(1000), Decimal("0.01"), Decimal(0)),
         (None, Decimal("0.005"), Decimal("2.00"))]
QUANTITY = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False, allow_infinity=False)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _price(engine, rate_type):
    base = {c: None for c in pricing.c.keys()}
    with engine.begin() as conn:
        conn.execute(insert(pricing).values({
            **base, "price_assignment_id": rate_type, "scope": "PRICE_LIST", "scope_id": "STD",
            "price_item_cd": "X", "start_dt": date(2026, 1, 1), "currency_cd": "USD",
            "ignore_txn": "N", "aggregate_txn": "N", "rating_criteria": "RITX", "sqi_basis": "TXN_AMOUNT",
            "rate_type": rate_type}))
        conn.execute(insert(pricing_tiers), [
            {"price_assignment_id": rate_type, "tier_seq": seq, "up_to": up_to, "unit_price": price, "flat_amount": flat}
            for seq, (up_to, price, flat) in enumerate(TIERS, start=1)])


def _rated(engine, rate_type, quantity, places=4):
    with engine.connect() as conn:
        return conn.execute(
            select(rate(literal(quantity, Money()), pricing, literal(places))).where(
                pricing.c.price_assignment_id == rate_type)
        ).scalar()


def _graduated(q):
    total, previous = Decimal(0), Decimal(0)
    for index, (up_to, price, flat) in enumerate(TIERS):
        if index and q <= previous:
            break
        top = q if up_to is None else min(q, up_to)
        total += max(top - previous, Decimal(0)) * price + flat
        previous = up_to if up_to is not None else previous
    return total.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _volume(q):
    for up_to, price, flat in TIERS:
        if up_to is None or up_to >= q:
            return (q * price + flat).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


@SETTINGS
@given(q=QUANTITY, extra=QUANTITY)
def test_graduated_is_the_sum_of_tier_pieces_and_monotone(engine, q, extra):
    if not _has(engine, "TIERED"):
        _price(engine, "TIERED")
    assert _rated(engine, "TIERED", q) == _graduated(q)
    assert _rated(engine, "TIERED", q + extra) >= _rated(engine, "TIERED", q)


@SETTINGS
@given(q=QUANTITY)
def test_volume_prices_the_whole_quantity_at_its_tier(engine, q):
    if not _has(engine, "VOLUME"):
        _price(engine, "VOLUME")
    assert _rated(engine, "VOLUME", q) == _volume(q)


def test_tier_boundaries_by_hand(engine):
    _price(engine, "TIERED")
    _price(engine, "VOLUME")
    cases = {  # q: (graduated, volume)
        Decimal(0): (Decimal("1.0000"), Decimal("1.0000")),
        Decimal(100): (Decimal("3.0000"), Decimal("3.0000")),  # 100 × 0.02 + 1 | on the first tier's limit
        Decimal("100.01"): (Decimal("3.0001"), Decimal("1.0001")),  # + 0.01 × 0.01 | 100.01 × 0.01 + 0
        Decimal(1000): (Decimal("12.0000"), Decimal("10.0000")),  # 3 + 900 × 0.01 | 1000 × 0.01
        Decimal(1001): (Decimal("14.0050"), Decimal("7.0050")),  # 12 + 1 × 0.005 + 2 | 1001 × 0.005 + 2
    }
    for q, (graduated, volume) in cases.items():
        assert (_rated(engine, "TIERED", q), _rated(engine, "VOLUME", q)) == (graduated, volume), q


def _has(engine, price_assignment_id):
    with engine.connect() as conn:
        return conn.execute(select(pricing.c.price_assignment_id).where(
            pricing.c.price_assignment_id == price_assignment_id)).first() is not None


AGGREGATING = ("RITA", "AGTR", "AG_DNRT")
TRANSACTION = st.tuples(
    st.sampled_from(AGGREGATING),
    st.sampled_from([_item(m) for m in MODELS]),
    st.decimals(min_value="0.01", max_value=5000, places=2),  # amount, USD
    st.decimals(min_value="0.1", max_value=200, places=1),  # volume
    st.integers(min_value=1, max_value=21),  # day of November, up to the business date
)
_feeds = itertools.count()


def _aggregated_charges(engine):
    c = bill_chg
    with engine.connect() as conn:
        return {(a, i): rest for a, i, *rest in conn.execute(
            select(c.c.account_id, c.c.price_item_cd, c.c.txn_count, c.c.txn_volume, c.c.txn_amount,
                   c.c.charge_amount, rate_charge(c, pricing, currencies.c.minor_units))
            .join(pricing, pricing.c.price_assignment_id == c.c.price_assignment_id)
            .join(currencies, currencies.c.currency_cd == c.c.currency_cd)
        )}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(transactions=st.lists(TRANSACTION, min_size=2, max_size=12), cut=st.integers(min_value=1, max_value=11))
def test_two_feeds_make_the_charges_of_one_feed_holding_both(engine, billing_home, tmp_path, transactions, cut):
    """Aggregated charges (RITA, AGTR, DNRT on every price model) after feed A then feed B equal
    those after one feed holding A and B: amounts, quantities and the amount invoicing rates."""
    if not _has(engine, "AGTR.VOLUME_USD"):
        load_grid(engine, tmp_path / "reference")
    rows_ = [f"T{n},2026-11-{day:02d},{account},{item},USD,{amount},{volume},"
             for n, (account, item, amount, volume, day) in enumerate(transactions)]
    cut = min(cut, len(rows_) - 1)
    drop = tmp_path / f"drop{next(_feeds)}"
    forget_feeds(engine)
    for part in (rows_[:cut], rows_[cut:]):
        _, outcome = run_feed(billing_home, write_feed(drop, f"part{next(_feeds)}", part))
        assert outcome.success, outcome.failures
    in_two = _aggregated_charges(engine)
    forget_feeds(engine)
    _, outcome = run_feed(billing_home, write_feed(drop, f"whole{next(_feeds)}", rows_))
    assert outcome.success, outcome.failures
    assert _aggregated_charges(engine) == in_two
    assert len(in_two) == len({(account, item) for account, item, *_ in transactions})
