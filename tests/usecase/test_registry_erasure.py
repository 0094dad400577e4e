"""The registry's export and erasure of a member on the in-memory store: who may ask, what the
export holds, what erasure leaves, and that the erased member is gone from every answer."""

from __future__ import annotations

import pytest

from linli.v1 import events_pb2
from services.common.auth import Principal, Role
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.common.subjects import MEMBER_ERASED
from services.registry.domain.erasure import ERASED_NAME
from services.registry.domain.member import MemberData
from tests.support import phone, request_id
from tests.usecase.registry_support import ADMIN, world


def as_member(member_id: str) -> Principal:
    return Principal(member_id, Role.MEMBER)


async def test_a_member_erased_at_their_request_is_gone_from_every_read() -> None:
    w = await world()
    member = await w.member()
    at = await w.registry.erase_member(as_member(member.id), member.id, "本人申请")
    assert at is not None
    with pytest.raises(NotFound):
        await w.registry.get_member(ADMIN, member.id)
    with pytest.raises(NotFound):
        await w.registry.get_member(as_member(member.id), member.id)
    listed = await w.registry.list_members(
        ADMIN, community_id=w.community, grid_id="", skill="", active=None, after=None, limit=100
    )
    assert member.id not in {m.id for m, _ in listed}
    with pytest.raises(NotFound):
        await w.registry.deactivate(ADMIN, member.id, "")
    with pytest.raises(NotFound):
        await w.registry.erase_member(ADMIN, member.id, "")


async def test_the_erasure_event_carries_the_id_and_community_only_and_snapshots_are_scrubbed() -> (
    None
):
    w = await world()
    member = await w.member()
    await w.registry.deactivate(ADMIN, member.id, "搬家到外地，张伟本人说明")
    await w.registry.erase_member(ADMIN, member.id, "")
    last = w.store.outbox[-1]
    assert last.subject == MEMBER_ERASED
    erased = events_pb2.MemberErased()
    assert last.payload.Unpack(erased)
    assert erased.member_id == member.id
    assert erased.community_id == member.data.community_id
    assert {f.name for f, _ in erased.ListFields()} <= {"member_id", "community_id"}
    for env in w.store.outbox[:-1]:
        text = env.payload.value
        assert member.data.phone.encode() not in text
        assert member.data.name.encode() not in text
        assert "张伟本人".encode() not in text
    snapshots = [e for e in w.store.outbox if e.payload.Is(events_pb2.MemberRegistered.DESCRIPTOR)]
    mine = events_pb2.MemberRegistered()
    snapshots[-1].payload.Unpack(mine)
    assert mine.member.name == ERASED_NAME and not mine.member.HasField("home")
    assert mine.member.community_id == w.community


async def test_only_the_member_themself_or_a_district_administrator_may_erase() -> None:
    w = await world()
    member = await w.member()
    other = await w.member()
    with pytest.raises(PermissionDenied):
        await w.registry.erase_member(w.staff, member.id, "")
    with pytest.raises(PermissionDenied):
        await w.registry.erase_member(w.street_admin, member.id, "")
    # Another member is told nothing: the member does not exist for them.
    with pytest.raises(NotFound):
        await w.registry.erase_member(as_member(other.id), member.id, "")
    still, _ = await w.registry.get_member(ADMIN, member.id)
    assert still.data.name == member.data.name


async def test_a_long_reason_is_refused_naming_the_field() -> None:
    w = await world()
    member = await w.member()
    with pytest.raises(InvalidArgument) as err:
        await w.registry.erase_member(ADMIN, member.id, "x" * 201)
    assert [v.field for v in err.value.violations] == ["reason"]


async def test_the_registrations_request_id_cannot_register_anyone_again() -> None:
    w = await world()
    rid = request_id()
    data: MemberData = w.data()
    member, _ = await w.registry.register(ADMIN, rid, data)
    await w.registry.erase_member(ADMIN, member.id, "")
    with pytest.raises(FailedPrecondition):
        await w.registry.register(ADMIN, rid, data)
    # The number is free again: the person may join anew, as someone new.
    again, _ = await w.registry.register(ADMIN, request_id(), data)
    assert again.id != member.id


async def test_a_member_exports_their_own_record_and_phone_history() -> None:
    w = await world()
    member = await w.member()
    me = as_member(member.id)
    new = phone()
    await w.registry.update(me, member.id, w.data(phone=new), ["phone"])
    got, phones = await w.registry.export_member(me, member.id)
    assert got.data.phone == member.data.phone and got.data.home == member.data.home
    assert phones.pending_phone == new and len(phones.changes_asked) == 1
    by_admin, _ = await w.registry.export_member(ADMIN, member.id)
    assert by_admin.id == member.id


async def test_staff_may_not_export_a_member_and_other_members_are_told_nothing() -> None:
    w = await world()
    member = await w.member()
    other = await w.member()
    with pytest.raises(PermissionDenied):
        await w.registry.export_member(w.staff, member.id)
    with pytest.raises(NotFound):
        await w.registry.export_member(as_member(other.id), member.id)


async def test_erasure_drops_the_pending_phone_change() -> None:
    w = await world()
    member = await w.member()
    me = as_member(member.id)
    await w.registry.update(me, member.id, w.data(phone=phone()), ["phone"])
    await w.registry.erase_member(me, member.id, "")
    phones = await w.store.phone_history(member.id)
    assert phones.pending_phone is None and phones.changes_asked == ()
