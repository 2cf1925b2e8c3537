"""Properties of rate(q) for the tiered rate types, on the real SQL expression and database.

The expected values come from a plain, independent reading of DESIGN §5 written here, not
from the code under test.
"""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, literal, select

from billing.db.money import Money
from billing.db.schema import pricing, pricing_tiers
from billing.rating import rate

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
