"""The registry's member use cases on the in-memory store: registration, updates and the
confirmation of a member's own new phone, reporting in, deactivation and reactivation."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from services.common.auth import Principal, Role
from services.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.common.settings import RegistrySettings
from services.common.subjects import (
    MEMBER_DEACTIVATED,
    MEMBER_REACTIVATED,
    MEMBER_REGISTERED,
    MEMBER_REPORTED_IN,
    MEMBER_UPDATED,
)
from services.registry.domain.errors import PhoneChangeLimited
from services.registry.store import RegisterResult
from tests.support import phone, request_id
from tests.usecase.registry_support import ADMIN, World, world


def subjects(w: World) -> list[str]:
    return [e.subject for e in w.store.outbox]


def as_member(member_id: str) -> Principal:
    return Principal(member_id, Role.MEMBER)


# -- registration ----------------------------------------------------------------------------


async def test_staff_register_a_member_into_their_community_and_see_them_whole() -> None:
    w = await world()
    member, private = await w.registry.register(w.staff, request_id(), w.data())
    assert private and member.street_id == w.street
    assert subjects(w)[-1] == MEMBER_REGISTERED


async def test_staff_cannot_register_outside_their_scope_nor_members_at_all() -> None:
    w = await world()
    with pytest.raises(PermissionDenied):
        await w.registry.register(
            w.staff, request_id(), w.data(community_id=w.neighbour, grid_id=w.neighbour_grid)
        )
    with pytest.raises(PermissionDenied):
        await w.registry.register(w.staff, request_id(), w.data(community_id=None, grid_id=None))
    someone = await w.member()
    with pytest.raises(PermissionDenied):
        await w.registry.register(as_member(someone.id), request_id(), w.data())


async def test_a_registration_into_an_unknown_community_names_the_field() -> None:
    w = await world()
    with pytest.raises(InvalidArgument) as err:
        await w.registry.register(w.staff, request_id(), w.data(community_id="nowhere"))
    assert [v.field for v in err.value.violations] == ["member.community_id"]


async def test_bad_fields_are_named_together() -> None:
    w = await world()
    with pytest.raises(InvalidArgument) as err:
        await w.registry.register(ADMIN, "", w.data(phone="123", hours_per_month=999))
    assert {v.field for v in err.value.violations} >= {
        "request_id",
        "member.phone",
        "member.hours_per_month",
    }


async def test_a_batch_answers_each_row_and_registers_the_good_ones() -> None:
    w = await world()
    results = await w.registry.register_batch(
        w.staff,
        [
            (0, request_id(), w.data()),
            (1, request_id(), w.data(phone="bad")),
            (2, request_id(), w.data(community_id=w.far, grid_id=w.far_grid)),
        ],
    )
    assert [r.index for r in results] == [0, 1, 2]
    assert results[0].created
    assert isinstance(results[1].error, InvalidArgument)
    assert isinstance(results[2].error, PermissionDenied)


async def test_staff_learn_of_taken_phones_only_a_few_times_a_day() -> None:
    w = await world(RegistrySettings(phone_conflicts_per_caller_per_day=1))
    staff = w.staff
    taken = [(await w.member()).data.phone for _ in range(2)]
    (first,) = await w.registry.register_batch(staff, [(0, request_id(), w.data(phone=taken[0]))])
    assert isinstance(first, RegisterResult) and first.error is not None
    with pytest.raises(PhoneChangeLimited):
        await w.registry.register(staff, request_id(), w.data(phone=taken[1]))
    # A free number is refused too: refusing only taken ones would tell them apart.
    with pytest.raises(PhoneChangeLimited):
        await w.registry.register(staff, request_id(), w.data())


# -- reading ---------------------------------------------------------------------------------


async def test_a_member_outside_the_callers_scope_is_not_found() -> None:
    w = await world()
    far = await w.member(community_id=w.far, grid_id=w.far_grid)
    with pytest.raises(NotFound):
        await w.registry.get_member(w.staff, far.id)
    with pytest.raises(NotFound):
        await w.registry.get_member(w.street_admin, far.id)
    me, private = await w.registry.get_member(as_member(far.id), far.id)
    assert me == far and private


async def test_each_caller_lists_only_the_members_they_may_see() -> None:
    w = await world()
    here = await w.member()
    near = await w.member(community_id=w.neighbour, grid_id=w.neighbour_grid)
    far = await w.member(community_id=w.far, grid_id=w.far_grid)

    async def listed(principal: Principal) -> set[str]:
        rows = await w.registry.list_members(
            principal, community_id="", grid_id="", skill="", active=None, after=None, limit=100
        )
        return {m.id for m, _ in rows}

    assert await listed(w.staff) == {here.id}
    assert await listed(w.street_admin) == {here.id, near.id}
    assert await listed(ADMIN) == {here.id, near.id, far.id}
    assert await listed(as_member(near.id)) == {near.id}


# -- updates and phone changes ---------------------------------------------------------------


async def test_staff_update_a_member_and_the_change_is_announced() -> None:
    w = await world()
    member = await w.member()
    updated, pending = await w.registry.update(
        w.staff, member.id, w.data(hours_per_month=25), ["hours_per_month"]
    )
    assert updated.data.hours_per_month == 25 and not pending
    assert updated.data.phone == member.data.phone
    assert subjects(w)[-1] == MEMBER_UPDATED


async def test_a_members_own_new_phone_waits_for_the_code_sent_to_it() -> None:
    w = await world()
    member = await w.member()
    me = as_member(member.id)
    new = phone()
    unchanged, pending = await w.registry.update(me, member.id, w.data(phone=new), ["phone"])
    assert pending and unchanged.data.phone == member.data.phone
    message = w.sms.last_to(new)
    assert message is not None
    found = re.search(r"\d{6}", message.text)
    assert found is not None
    wrong = "000000" if found.group() != "000000" else "111111"
    with pytest.raises(InvalidArgument):
        await w.registry.confirm_phone_change(me, member.id, wrong)
    confirmed = await w.registry.confirm_phone_change(me, member.id, found.group())
    assert confirmed.data.phone == new
    assert subjects(w)[-1] == MEMBER_UPDATED


async def test_a_taken_number_gets_a_notice_and_can_never_be_confirmed() -> None:
    w = await world()
    member = await w.member()
    holder = await w.member()
    _, pending = await w.registry.update(
        as_member(member.id), member.id, w.data(phone=holder.data.phone), ["phone"]
    )
    assert pending
    notice = w.sms.last_to(holder.data.phone)
    assert notice is not None and not re.search(r"\d{6}", notice.text)


async def test_staff_change_a_phone_at_once_and_only_staff_or_the_member_confirm() -> None:
    w = await world()
    member = await w.member()
    new = phone()
    updated, pending = await w.registry.update(w.staff, member.id, w.data(phone=new), ["phone"])
    assert updated.data.phone == new and not pending
    with pytest.raises(PermissionDenied):
        await w.registry.confirm_phone_change(w.staff, member.id, "123456")


async def test_an_update_naming_a_field_that_cannot_change_is_refused() -> None:
    w = await world()
    member = await w.member()
    with pytest.raises(InvalidArgument) as err:
        await w.registry.update(w.staff, member.id, w.data(), ["community_id"])
    assert [v.field for v in err.value.violations] == ["update_mask"]


# -- reporting in ----------------------------------------------------------------------------


async def test_a_member_reports_in_to_a_community_and_again_changes_nothing() -> None:
    w = await world()
    member = await w.member(community_id=None, grid_id=None)
    me = as_member(member.id)
    moved = await w.registry.report_in(me, member.id, w.far, w.far_grid, "")
    assert moved.data.community_id == w.far and moved.street_id == w.other_street
    assert subjects(w)[-1] == MEMBER_REPORTED_IN
    count = len(w.store.outbox)
    again = await w.registry.report_in(me, member.id, w.far, w.far_grid, "")
    assert again == moved and len(w.store.outbox) == count


async def test_staff_cannot_take_a_member_of_another_community_nor_move_one_out() -> None:
    w = await world()
    near = await w.member(community_id=w.neighbour, grid_id=w.neighbour_grid)
    with pytest.raises(NotFound):
        await w.registry.report_in(w.staff, near.id, w.community, w.grid, "")
    mine = await w.member()
    with pytest.raises(PermissionDenied):
        await w.registry.report_in(w.staff, mine.id, w.far, w.far_grid, "")


async def test_reporting_in_to_a_grid_of_another_community_names_the_grid() -> None:
    w = await world()
    member = await w.member()
    with pytest.raises(InvalidArgument) as err:
        await w.registry.report_in(ADMIN, member.id, w.community, w.far_grid, "")
    assert [v.field for v in err.value.violations] == ["grid_id"]


# -- deactivation and reactivation -----------------------------------------------------------


async def test_a_deactivated_member_cannot_be_changed_until_staff_reactivate_them() -> None:
    w = await world()
    member = await w.member()
    me = as_member(member.id)
    gone = await w.registry.deactivate(me, member.id, "  工作调动 ")
    assert not gone.active and gone.deactivation_reason == "工作调动"
    assert subjects(w)[-1] == MEMBER_DEACTIVATED
    with pytest.raises(FailedPrecondition) as err:
        await w.registry.update(w.staff, member.id, w.data(hours_per_month=5), ["hours_per_month"])
    assert err.value.reason == "MEMBER_DEACTIVATED"
    with pytest.raises(FailedPrecondition):
        await w.registry.report_in(me, member.id, w.community, w.grid, "")
    with pytest.raises(PermissionDenied):
        await w.registry.reactivate(me, member.id)
    back = await w.registry.reactivate(w.staff, member.id)
    assert back.active and back.deactivation_reason == ""
    assert subjects(w)[-1] == MEMBER_REACTIVATED


async def test_deactivating_twice_or_reactivating_an_active_member_changes_nothing() -> None:
    w = await world()
    member = await w.member()
    await w.registry.deactivate(w.staff, member.id, "")
    count = len(w.store.outbox)
    again = await w.registry.deactivate(w.staff, member.id, "另一个原因")
    assert not again.active and len(w.store.outbox) == count
    active = await w.member()
    same = await w.registry.reactivate(w.staff, active.id)
    assert same == active


async def test_a_member_outside_the_callers_scope_is_not_found_for_every_change() -> None:
    w = await world()
    far = await w.member(community_id=w.far, grid_id=w.far_grid)
    data = replace(w.data(), hours_per_month=5)
    for change in (
        w.registry.update(w.staff, far.id, data, ["hours_per_month"]),
        w.registry.deactivate(w.staff, far.id, ""),
        w.registry.reactivate(w.staff, far.id),
    ):
        with pytest.raises(NotFound):
            await change
    assert await w.store.get_member(far.id) == far


async def test_a_reason_longer_than_allowed_is_refused() -> None:
    w = await world()
    member = await w.member()
    with pytest.raises(InvalidArgument) as err:
        await w.registry.deactivate(w.staff, member.id, "长" * 201)
    assert [v.field for v in err.value.violations] == ["reason"]
