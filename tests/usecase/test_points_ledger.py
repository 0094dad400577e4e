"""The points service's use cases on the in-memory store: confirmed hours earn points once, a
correction reverses, staff redeem within the balance and reverse a mistake, who may read whose
points, the community's totals, the yearly reset and erasure."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from linli.v1 import events_pb2
from services.common import paging
from services.common.errors import FailedPrecondition, NotFound, PermissionDenied
from services.common.settings.points import PointsRules
from services.common.values import LOCAL_TZ
from services.points.domain.ledger import Kind
from services.points.domain.redemption import Redemption
from tests.usecase.points_support import ADMIN, Ledger, member, staff, street_admin


@pytest.fixture(autouse=True)
def page_key():  # type: ignore[no-untyped-def]
    with paging.signing_key(b"k" * 32):
        yield


async def setup(rules: PointsRules | None = None) -> tuple[Ledger, str]:
    d = Ledger(rules or PointsRules())
    await d.community("c1", "s1")
    await d.community("c2", "s1")
    await d.community("c3", "s2")
    return d, await d.member("c1")


async def test_confirmed_hours_earn_points_once_and_announce_them() -> None:
    d, m = await setup()
    record = await d.hours(m, "c1", 90, hard=True)
    await d.hours(m, "c1", 90, hard=True, record_id=record)  # delivered again
    b = await d.points.balance(member(m), m)
    assert (b.balance, b.earned_this_year) == (225, 225)
    ((event, actor),) = d.store.events
    subject, payload = event
    assert subject == "linli.points.movement.award" and actor is None
    assert isinstance(payload, events_pb2.PointsMoved)
    assert (payload.amount, payload.balance, payload.source_id) == (225, 225, record)


async def test_a_correction_reverses_the_replaced_record_and_books_the_new_one() -> None:
    d, m = await setup()
    first = await d.hours(m, "c1", 120)
    await d.hours(m, "c1", 30, supersedes=first)
    rows, _ = await d.points.movements(staff("c1"), m, 10, "")
    assert sorted((r.kind, r.amount) for r in rows) == sorted(
        [(Kind.AWARD, 200), (Kind.REVERSAL, -200), (Kind.AWARD, 50)]
    )
    award = next(r for r in rows if r.source_id == first)
    assert award.reversed_by
    assert (await d.points.balance(member(m), m)).balance == 50


async def test_staff_redeem_within_the_balance_and_a_retry_books_once() -> None:
    d, m = await setup()
    await d.hours(m, "c1", 120)
    r = Redemption("q-1", m, 150, "理发券")
    movement, balance = await d.points.redeem(staff("c1"), r)
    assert (movement.kind, movement.amount, balance) == (Kind.REDEMPTION, -150, 50)
    again, balance = await d.points.redeem(staff("c1"), r)
    assert again.id == movement.id and balance == 50
    with pytest.raises(FailedPrecondition) as e:
        await d.points.redeem(staff("c1"), Redemption("q-2", m, 51, "茶叶"))
    assert e.value.reason == "INSUFFICIENT_POINTS"


async def test_only_staff_of_the_members_community_redeem() -> None:
    d, m = await setup()
    await d.hours(m, "c1", 120)
    with pytest.raises(NotFound):
        await d.points.redeem(staff("c2"), Redemption("q-1", m, 10, "茶叶"))
    with pytest.raises(PermissionDenied):
        await d.points.redeem(member(m), Redemption("q-1", m, 10, "茶叶"))
    with pytest.raises(PermissionDenied):
        await d.points.redeem(ADMIN, Redemption("q-1", m, 10, "茶叶"))


async def test_staff_reverse_a_mistaken_redemption_once() -> None:
    d, m = await setup()
    await d.hours(m, "c1", 120)
    redeemed, _ = await d.points.redeem(staff("c1"), Redemption("q-1", m, 150, "理发券"))
    with pytest.raises(NotFound):
        await d.points.reverse(staff("c2"), redeemed.id, "wrong member")
    reversal, balance = await d.points.reverse(staff("c1"), redeemed.id, "wrong member")
    assert (reversal.amount, balance) == (150, 200)
    with pytest.raises(FailedPrecondition):
        await d.points.reverse(staff("c1"), redeemed.id, "again")


async def test_who_may_read_a_members_points() -> None:
    d, m = await setup()
    await d.hours(m, "c1", 60)
    for who in (member(m), staff("c1"), street_admin("s1"), ADMIN):
        assert (await d.points.balance(who, m)).balance == 100
    unknown = str(uuid.uuid4())
    for who in (member(str(uuid.uuid4())), staff("c2"), street_admin("s2")):
        with pytest.raises(NotFound) as seen:
            await d.points.balance(who, m)
        with pytest.raises(NotFound) as unknown_seen:
            await d.points.balance(staff("c2"), unknown)
        # The same answer as for a member nobody knows.
        assert type(seen.value) is type(unknown_seen.value)
        with pytest.raises(NotFound):
            await d.points.movements(who, m, 10, "")


async def test_a_new_communitys_staff_answer_for_a_member_only_once_they_accepted_them() -> None:
    d, m = await setup()
    await d.hours(m, "c1", 60)
    await d.moves(m, "c2", accepted=False)
    # Pending: the staff who accepted them last still answer for their points, the new ones not.
    assert (await d.points.balance(staff("c1"), m)).balance == 100
    with pytest.raises(NotFound):
        await d.points.balance(staff("c2"), m)
    await d.moves(m, "c2", accepted=True)
    assert (await d.points.balance(staff("c2"), m)).balance == 100
    with pytest.raises(NotFound):
        await d.points.balance(staff("c1"), m)


async def test_a_members_history_pages_newest_first() -> None:
    d, m = await setup()
    for _ in range(5):
        await d.hours(m, "c1", 60, category="community")
        d.clock.move(timedelta(hours=1))
    seen, token = [], ""
    while True:
        rows, token = await d.points.movements(member(m), m, 2, token)
        seen += rows
        if not token:
            break
    assert len(seen) == 5
    assert [r.booked_at for r in seen] == sorted((r.booked_at for r in seen), reverse=True)


async def test_a_communitys_totals() -> None:
    d, m = await setup()
    other = await d.member("c1")
    await d.hours(m, "c1", 120)
    await d.hours(other, "c1", 60)
    await d.points.redeem(staff("c1"), Redemption("q-1", m, 150, "理发券"))
    t = await d.points.community(staff("c1"), "c1")
    assert (t.issued, t.redeemed, t.outstanding, t.members_with_points) == (300, 150, 150, 2)
    with pytest.raises(PermissionDenied):
        await d.points.community(staff("c2"), "c1")
    assert (await d.points.community(street_admin("s1"), "c1")).issued == 300


async def test_the_year_end_resets_once_where_the_settings_say_so() -> None:
    d, m = await setup(PointsRules(year_end="reset"))
    d.clock.now = datetime(2026, 12, 31, 20, tzinfo=LOCAL_TZ)
    await d.hours(m, "c1", 120)
    assert await d.points.year_end() == 0  # not the new year yet (the 2026 reset was empty)
    d.clock.now = datetime(2027, 1, 1, 0, 5, tzinfo=LOCAL_TZ)
    assert await d.points.year_end() == 1
    assert await d.points.year_end() == 0
    assert (await d.points.balance(member(m), m)).balance == 0
    rows, _ = await d.points.movements(member(m), m, 10, "")
    assert rows[0].kind is Kind.RESET and rows[0].amount == -200


async def test_carrying_over_keeps_the_balance() -> None:
    d, m = await setup()
    d.clock.now = datetime(2026, 12, 31, 20, tzinfo=LOCAL_TZ)
    await d.hours(m, "c1", 120)
    d.clock.now = datetime(2027, 1, 2, tzinfo=LOCAL_TZ)
    assert await d.points.year_end() == 0
    assert (await d.points.balance(member(m), m)).balance == 200


async def test_an_erased_member_is_forgotten_and_the_ledger_stays_balanced() -> None:
    d, m = await setup()
    await d.hours(m, "c1", 120)
    export = await d.points.export_member(member(m), m)
    assert [x.amount for x in export] == [200]
    await d.feed(
        "linli.registry.member.erased", events_pb2.MemberErased(member_id=m, community_id="c1")
    )
    with pytest.raises(NotFound):
        await d.points.balance(staff("c1"), m)
    # A late snapshot does not bring them back.
    await d.member("c1", m)
    with pytest.raises(NotFound):
        await d.points.balance(staff("c1"), m)
    t = await d.points.community(staff("c1"), "c1")
    assert t.issued == 200 and t.outstanding == 200
