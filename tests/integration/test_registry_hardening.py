"""Scope, idempotency and race cases of the registry: what a careless or hostile caller tries."""

from __future__ import annotations

import asyncio
import base64
import json

import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc import aio

from linli.v1 import registry_pb2
from linli.v1 import registry_pb2_grpc as rpc
from services.common import paging
from services.common.auth import Role
from services.common.settings import RegistrySettings
from tests.integration.conftest import District, code
from tests.support import auth, member_proto, phone, ref, request_id, token

pytestmark = pytest.mark.integration

Metadata = tuple[tuple[str, str], ...]


async def test_staff_cannot_pull_a_member_of_another_community_into_theirs(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    settings: RegistrySettings,
) -> None:
    far_member = (
        await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(), member=member_proto(district.far, district.far_grid)
            ),
            metadata=admin,
        )
    ).member
    staff = auth(
        token(settings, Role.COMMUNITY_STAFF, "staff-hijack", communities=(district.community,))
    )

    with pytest.raises(aio.AioRpcError) as err:
        await stub.ReportIn(
            registry_pb2.ReportInRequest(
                member_id=far_member.id, community_id=district.community, grid_id=district.grid
            ),
            metadata=staff,
        )

    assert code(err.value) == grpc.StatusCode.NOT_FOUND
    unchanged = (
        await stub.GetMember(registry_pb2.GetMemberRequest(id=far_member.id), metadata=admin)
    ).member
    assert unchanged.community_id == district.far


async def test_staff_may_report_in_a_member_who_has_no_community_yet(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    settings: RegistrySettings,
) -> None:
    newcomer = (
        await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(request_id=request_id(), member=member_proto()),
            metadata=admin,
        )
    ).member
    staff = auth(
        token(settings, Role.COMMUNITY_STAFF, "staff-newcomer", communities=(district.community,))
    )

    reply = await stub.ReportIn(
        registry_pb2.ReportInRequest(
            member_id=newcomer.id, community_id=district.community, grid_id=district.grid
        ),
        metadata=staff,
    )

    assert reply.member.community_id == district.community


async def test_a_request_id_belongs_to_its_caller_and_to_one_request(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    settings: RegistrySettings,
) -> None:
    shared_id = f"shared-{ref()}"
    first = (
        await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=shared_id, member=member_proto(district.far, district.far_grid)
            ),
            metadata=admin,
        )
    ).member
    staff = auth(
        token(settings, Role.COMMUNITY_STAFF, "staff-replay", communities=(district.community,))
    )

    # Another caller using the same id gets a member of its own, and learns nothing of the first.
    theirs = (
        await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=shared_id, member=member_proto(district.community, district.grid)
            ),
            metadata=staff,
        )
    ).member
    assert theirs.id != first.id and theirs.phone != first.phone

    # The same caller reusing its id for a different member is refused.
    with pytest.raises(aio.AioRpcError) as err:
        await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=shared_id, member=member_proto(district.far, district.far_grid)
            ),
            metadata=admin,
        )
    assert code(err.value) == grpc.StatusCode.FAILED_PRECONDITION
    assert "different" in (err.value.details() or "")


async def test_callers_not_entitled_see_no_member_at_all(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    settings: RegistrySettings,
) -> None:
    m = member_proto(district.community, district.grid)
    m.building_group_id = district.group
    member = (
        await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(request_id=request_id(), member=m), metadata=admin
        )
    ).member
    neighbour = auth(token(settings, Role.MEMBER, "someone-else"))

    with pytest.raises(aio.AioRpcError) as err:
        await stub.GetMember(registry_pb2.GetMemberRequest(id=member.id), metadata=neighbour)

    assert code(err.value) == grpc.StatusCode.NOT_FOUND
    assert member.building_group_id == district.group


async def test_concurrent_creation_of_one_street_never_answers_internal(
    stub: rpc.RegistryServiceStub, admin: Metadata
) -> None:
    street = registry_pb2.Street(id=ref("st"), name="并发街道")

    replies = await asyncio.gather(
        *(
            stub.CreateStreet(registry_pb2.CreateStreetRequest(street=street), metadata=admin)
            for _ in range(6)
        ),
        return_exceptions=True,
    )

    assert all(not isinstance(r, BaseException) for r in replies), replies
    assert {r.street.id for r in replies} == {street.id}  # type: ignore[union-attr]


async def test_two_members_racing_for_one_phone_get_a_clear_answer(
    stub: rpc.RegistryServiceStub, admin: Metadata, district: District
) -> None:
    a, b = [
        (
            await stub.RegisterMember(
                registry_pb2.RegisterMemberRequest(
                    request_id=request_id(), member=member_proto(district.community, district.grid)
                ),
                metadata=admin,
            )
        ).member
        for _ in range(2)
    ]
    wanted = phone()

    results = await asyncio.gather(
        *(
            stub.UpdateMember(
                registry_pb2.UpdateMemberRequest(
                    member=registry_pb2.Member(id=m.id, phone=wanted),
                    update_mask=field_mask_pb2.FieldMask(paths=["phone"]),
                ),
                metadata=admin,
            )
            for m in (a, b)
        ),
        return_exceptions=True,
    )

    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1
    assert code(failures[0]) in (grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.ABORTED)


async def test_a_forged_page_token_is_invalid_argument_not_internal(
    stub: rpc.RegistryServiceStub, admin: Metadata, district: District
) -> None:
    filters = {"community_id": district.community, "grid_id": "", "skill": "", "status": 0}
    forged = (
        base64.urlsafe_b64encode(
            json.dumps({"a": "not-a-uuid", "f": paging._fingerprint(filters)}).encode()
        )
        .decode()
        .rstrip("=")
    )

    with pytest.raises(aio.AioRpcError) as err:
        await stub.ListMembers(
            registry_pb2.ListMembersRequest(community_id=district.community, page_token=forged),
            metadata=admin,
        )

    assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_call_whose_deadline_passes_while_it_waits_writes_nothing_later(
    stub: rpc.RegistryServiceStub, admin: Metadata, district: District, db: object
) -> None:
    member = (
        await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(),
                member=member_proto(district.community, district.grid, hours=10),
            ),
            metadata=admin,
        )
    ).member
    async with db.acquire() as conn, conn.transaction():  # type: ignore[attr-defined]
        # Hold the member's row: the update below waits on it past its deadline.
        await conn.execute(
            "SELECT 1 FROM registry.member WHERE id = $1::uuid FOR UPDATE", member.id
        )
        with pytest.raises(aio.AioRpcError) as err:
            await stub.UpdateMember(
                registry_pb2.UpdateMemberRequest(
                    member=registry_pb2.Member(id=member.id, hours_per_month=99),
                    update_mask=field_mask_pb2.FieldMask(paths=["hours_per_month"]),
                ),
                metadata=admin,
                timeout=0.5,
            )
        assert code(err.value) == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.sleep(0.5)  # the lock is gone: a call still running would write now
    after = (
        await stub.GetMember(registry_pb2.GetMemberRequest(id=member.id), metadata=admin)
    ).member
    assert after.hours_per_month == 10
