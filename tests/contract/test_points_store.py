"""One suite for every implementation of the points service's store: PostgreSQL and memory must
book, read, total and reset the ledger alike. Each test works with members of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.common import migrations
from services.common.auth import Principal, Role
from services.common.errors import AlreadyExists
from services.common.eventbus import Outbox
from services.points import events
from services.points.app import MIGRATIONS
from services.points.domain.ledger import Booking, Kind, MemberLedger, Movement, reversal
from services.points.domain.members import MemberRef
from services.points.store import PointsStore
from services.points.store.memory import MemoryStore
from services.points.store.postgres import PostgresStore
from tests.conftest import Servers

T0 = datetime(2026, 12, 1, tzinfo=UTC)
STAFF = Principal("staff", Role.COMMUNITY_STAFF, frozenset({"c1"}))


@pytest.fixture(scope="module")
async def points_pool(servers: Servers) -> AsyncIterator[asyncpg.Pool]:
    schema = f"points_contract_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(servers.database_url)
    try:
        await migrations.apply(conn, schema, MIGRATIONS)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        servers.database_url, min_size=1, max_size=2, server_settings={"search_path": schema}
    )
    assert pool is not None
    yield pool
    await pool.close()


@pytest.fixture(params=["postgres", "memory"])
def store(request: pytest.FixtureRequest) -> PointsStore:
    if request.param == "memory":
        return MemoryStore()
    return PostgresStore(request.getfixturevalue("points_pool"), Outbox(events.SERVICE))


def award(member_id: str, amount: int, community: str = "c1", at: datetime = T0) -> Movement:
    return Movement(
        id=str(uuid.uuid4()),
        kind=Kind.AWARD,
        member_id=member_id,
        community_id=community,
        amount=amount,
        source_id=str(uuid.uuid4()),
        reason="2 h",
        booked_at=at,
        category="elderly",
        year=at.year,
    )


def book(*movements: Movement, superseded: frozenset[str] = frozenset()):  # type: ignore[no-untyped-def]
    return lambda _ledger: Booking(list(movements), superseded)


def new_member() -> str:
    return str(uuid.uuid4())


async def test_a_booking_is_kept_with_its_balance(store: PointsStore) -> None:
    m = new_member()
    a = award(m, 200)
    booked = await store.move(m, book(a), None)
    assert booked.balance == 200
    b = award(m, 50, at=T0 + timedelta(hours=1))
    assert (await store.move(m, book(b), None)).balance == 250
    ledger = await store.ledger(m)
    assert [x.id for x in ledger.movements] == [a.id, b.id]
    assert ledger.balance == 250
    assert await store.movement(a.id) == a


async def test_the_decision_sees_the_ledger_as_it_stands(store: PointsStore) -> None:
    m = new_member()
    await store.move(m, book(award(m, 200), superseded=frozenset({"r-old"})), None)
    seen: list[MemberLedger] = []

    def decide(ledger: MemberLedger) -> Booking:
        seen.append(ledger)
        return Booking()

    await store.move(m, decide, None)
    assert seen[0].balance == 200 and seen[0].superseded == frozenset({"r-old"})


async def test_a_source_is_booked_once(store: PointsStore) -> None:
    m = new_member()
    a = award(m, 200)
    await store.move(m, book(a), None)
    again = Movement(**{**a.__dict__, "id": str(uuid.uuid4())})
    with pytest.raises(AlreadyExists):
        await store.move(m, book(again), None)
    assert (await store.ledger(m)).balance == 200


async def test_movements_page_newest_first_with_their_reversals(store: PointsStore) -> None:
    m = new_member()
    first = award(m, 100, at=T0)
    second = award(m, 100, at=T0 + timedelta(hours=1))
    await store.move(m, book(first, second), STAFF)
    undo = reversal(first, str(uuid.uuid4()), T0 + timedelta(hours=2), "corrected")
    await store.move(m, book(undo), None)
    rows = await store.movements(m, None, 2)
    assert [r.id for r in rows] == [undo.id, second.id]
    rest = await store.movements(m, (rows[-1].booked_at, rows[-1].id), 10)
    assert [r.id for r in rest] == [first.id]
    assert rest[0].reversed_by == undo.id
    assert rows[0].reverses == first.id and rows[0].reverses_kind is Kind.AWARD


async def test_a_communitys_totals(store: PointsStore) -> None:
    c = f"c-{uuid.uuid4().hex[:8]}"
    m1, m2 = new_member(), new_member()
    a = award(m1, 300, c)
    await store.move(m1, book(a), None)
    await store.move(m2, book(award(m2, 100, c)), None)
    redemption = Movement(
        str(uuid.uuid4()), Kind.REDEMPTION, m2, c, -100, str(uuid.uuid4()), "兑换", T0
    )
    await store.move(m2, book(redemption), STAFF)
    await store.move(m1, book(reversal(a, str(uuid.uuid4()), T0, "x")), None)
    t = await store.community_totals(c)
    assert all(type(n) is int for n in (t.issued, t.redeemed, t.reset, t.outstanding))
    assert (t.issued, t.redeemed, t.reset, t.outstanding, t.members_with_points) == (
        100,
        100,
        0,
        0,
        0,
    )
    assert c in {x.community_id for x in await store.all_community_totals()}


async def test_holders_before_a_time(store: PointsStore) -> None:
    early, late = new_member(), new_member()
    await store.move(early, book(award(early, 100, at=T0 - timedelta(days=400))), None)
    await store.move(late, book(award(late, 100, at=T0 + timedelta(days=400))), None)
    holders = await store.holders_before(T0)
    assert early in holders and late not in holders


async def test_the_years_done(store: PointsStore) -> None:
    year = 3000 + uuid.uuid4().int % 5000
    assert not await store.year_done(year)
    await store.mark_year_done(year, T0)
    await store.mark_year_done(year, T0)
    assert await store.year_done(year)


async def test_the_read_model_keeps_the_newest_version_and_erasure_seals_it(
    store: PointsStore,
) -> None:
    m = new_member()
    async with store.transaction() as tx:
        await store.put_community(tx, "c1", "s1")
        await store.put_member(tx, MemberRef(m, "c1"), T0)
        await store.put_member(tx, MemberRef(m, "c2"), T0 - timedelta(days=1))
    assert await store.member(m) == MemberRef(m, "c1")
    assert await store.street_of("c1") == "s1"
    async with store.transaction() as tx:
        await store.forget_member(tx, m)
        await store.put_member(tx, MemberRef(m, "c1"), T0 + timedelta(days=1))
    assert await store.member(m) == MemberRef(m, "", erased=True)
