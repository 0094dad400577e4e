"""A member's export from the matching service, and what their erasure (MemberErased, through
its handler table) changes there: the read model's row sealed, distances in recorded plans
forgotten."""

from __future__ import annotations

import pytest

from linli.v1 import events_pb2, registry_pb2
from services.common.auth import Principal, Role
from services.common.errors import NotFound, PermissionDenied
from services.common.protoconv import ts
from services.common.subjects import MEMBER_ERASED
from tests.usecase.matching_support import (
    NOW,
    district,
    member_principal,
    proposed_once,
    staff,
)

ADMIN = Principal("district-admin", Role.DISTRICT_ADMIN)


async def test_an_erased_member_is_never_offered_anything_again() -> None:
    d, task_id, proposal = await proposed_once()
    me = proposal.member_id
    assert task_id in d.matching.export_member(member_principal(me), me)[2]
    await d.feed(MEMBER_ERASED, events_pb2.MemberErased(member_id=me, community_id="c1"))
    row = d.matching.world.members[me]
    assert not row.active and row.lat is None and row.skills == {} and row.community_id == "c1"
    for run in d.store.runs.values():
        for a in run.planned:
            if a.member_id == me:
                assert a.distance_m == 0.0 and a.explanation == "" and a.facts == {}


async def test_a_late_snapshot_does_not_bring_an_erased_member_back() -> None:
    d = district()
    await d.community("c1", "s1")
    me = await d.member("c1")
    await d.feed(MEMBER_ERASED, events_pb2.MemberErased(member_id=me, community_id="c1"))
    late = registry_pb2.Member(
        id=me,
        community_id="c1",
        status=registry_pb2.MEMBER_STATUS_ACTIVE,
        hours_per_month=20,
        update_time=ts(NOW),
    )
    await d.feed("linli.registry.member.updated", events_pb2.MemberUpdated(member=late))
    assert not d.matching.world.members[me].active


async def test_the_member_or_an_administrator_exports_and_staff_may_not() -> None:
    d = district()
    await d.community("c1", "s1")
    me, other = await d.member("c1"), await d.member("c1")
    row, held, pending, refused = d.matching.export_member(member_principal(me), me)
    assert row is not None and row.community_id == "c1" and row.lat is not None
    assert (held, pending, refused) == ([], [], [])
    assert d.matching.export_member(ADMIN, me)[0] == row
    with pytest.raises(PermissionDenied):
        d.matching.export_member(staff("c1"), me)
    with pytest.raises(NotFound):
        d.matching.export_member(member_principal(other), me)
