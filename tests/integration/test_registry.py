"""The registry over real gRPC, PostgreSQL and NATS JetStream."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.aio.client import Client as NatsClient

from linli.v1 import common_pb2, events_pb2, registry_pb2
from linli.v1 import registry_pb2_grpc as rpc
from services.common.auth import Role
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from tests.integration.conftest import District, code
from tests.integration.errors import bad_request_fields
from tests.integration.events import wait_for_events
from tests.support import auth, member_proto, phone, ref, request_id, token

pytestmark = pytest.mark.integration

Metadata = tuple[tuple[str, str], ...]


def registered(member_id: str):  # type: ignore[no-untyped-def]
    def match(env: events_pb2.EventEnvelope) -> bool:
        payload = events_pb2.MemberRegistered()
        return env.payload.Unpack(payload) and payload.member.id == member_id

    return match


async def register(
    stub: rpc.RegistryServiceStub, md: Metadata, district: District, **kw: object
) -> registry_pb2.Member:
    reply = await stub.RegisterMember(
        registry_pb2.RegisterMemberRequest(
            request_id=request_id(), member=member_proto(district.community, district.grid, **kw)
        ),  # type: ignore[arg-type]
        metadata=md,
    )
    return reply.member


async def test_health_check_over_the_standard_client_reports_serving(channel: aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "linli.v1.RegistryService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_registry_service(channel: aio.Channel) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def requests():  # type: ignore[no-untyped-def]
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    async for reply in stub.ServerReflectionInfo(requests()):
        names = {s.name for s in reply.list_services_response.service}
        assert {"linli.v1.RegistryService", "grpc.health.v1.Health"} <= names


async def test_register_publishes_exactly_one_event(
    stub: rpc.RegistryServiceStub, admin: Metadata, district: District, nats_client: NatsClient
) -> None:
    member = await register(stub, admin, district)

    found = await wait_for_events(
        nats_client.jetstream(), "linli.registry.member.registered", registered(member.id), 1
    )

    assert len(found) == 1
    env = found[0]
    assert env.type == "linli.v1.MemberRegistered"
    assert env.source == "registry"
    assert env.actor.role == common_pb2.ROLE_DISTRICT_ADMIN
    payload = events_pb2.MemberRegistered()
    env.payload.Unpack(payload)
    assert payload.member.phone == member.phone  # events carry whole records


async def test_a_repeated_request_id_gives_one_row_one_event_and_the_same_answer(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    nats_client: NatsClient,
    db: object,
) -> None:
    req = registry_pb2.RegisterMemberRequest(
        request_id=request_id(), member=member_proto(district.community, district.grid)
    )

    first = await stub.RegisterMember(req, metadata=admin)
    again = await asyncio.gather(*(stub.RegisterMember(req, metadata=admin) for _ in range(5)))

    assert all(r.member == first.member for r in again)
    rows = await db.fetchval(  # type: ignore[attr-defined]
        "SELECT count(*) FROM registry.member WHERE request_id = $1", req.request_id
    )
    assert rows == 1
    found = await wait_for_events(
        nats_client.jetstream(), "linli.registry.member.registered", registered(first.member.id), 1
    )
    assert len(found) == 1


async def test_concurrent_first_registrations_with_one_request_id_make_one_member(
    stub: rpc.RegistryServiceStub, admin: Metadata, district: District, db: object
) -> None:
    req = registry_pb2.RegisterMemberRequest(
        request_id=request_id(), member=member_proto(district.community, district.grid)
    )

    replies = await asyncio.gather(*(stub.RegisterMember(req, metadata=admin) for _ in range(8)))

    assert len({r.member.id for r in replies}) == 1
    assert (
        await db.fetchval(  # type: ignore[attr-defined]
            "SELECT count(*) FROM registry.member WHERE request_id = $1", req.request_id
        )
        == 1
    )


async def test_the_same_phone_twice_is_already_exists(
    stub: rpc.RegistryServiceStub, admin: Metadata, district: District
) -> None:
    number = phone()
    await register(stub, admin, district, phone_number=number)

    with pytest.raises(aio.AioRpcError) as err:
        await register(stub, admin, district, phone_number=number)

    assert code(err.value) == grpc.StatusCode.ALREADY_EXISTS
    assert "phone" in (err.value.details() or "")


async def test_bad_input_names_every_bad_field_and_writes_nothing(
    stub: rpc.RegistryServiceStub, admin: Metadata, district: District, db: object
) -> None:
    member = member_proto(
        district.community,
        district.grid,
        lat=31.2,
        lng=121.5,
        hours=300,
        skills=(("juggling", 2), ("tutoring", 9)),
        name="",
        phone_number="12345",
    )
    member.availability.append(
        common_pb2.WeeklyWindow(
            day=common_pb2.DAY_OF_WEEK_MONDAY, start_minute=1200, end_minute=1100
        )
    )
    req = registry_pb2.RegisterMemberRequest(request_id=request_id(), member=member)

    with pytest.raises(aio.AioRpcError) as err:
        await stub.RegisterMember(req, metadata=admin)

    assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT
    fields = bad_request_fields(err.value)
    assert {
        "member.name",
        "member.phone",
        "member.home",
        "member.hours_per_month",
        "member.skills[0].skill",
        "member.skills[1].level",
        "member.availability[1].end_minute",
    } <= set(fields)
    assert "outside the district" in fields["member.home"]
    assert (
        await db.fetchval(  # type: ignore[attr-defined]
            "SELECT count(*) FROM registry.member WHERE request_id = $1", req.request_id
        )
        == 0
    )


async def test_unknown_community_or_grid_is_invalid_argument(
    stub: rpc.RegistryServiceStub, admin: Metadata, district: District
) -> None:
    for community, grid, bad_field in (
        ("no-such-community", district.grid, "member.community_id"),
        (district.community, "no-such-grid", "member.grid_id"),
        (district.community, district.far_grid, "member.grid_id"),  # a grid of another community
    ):
        with pytest.raises(aio.AioRpcError) as err:
            await stub.RegisterMember(
                registry_pb2.RegisterMemberRequest(
                    request_id=request_id(), member=member_proto(community, grid)
                ),
                metadata=admin,
            )
        assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_field in bad_request_fields(err.value)


async def test_bulk_import_lands_every_good_row_and_reports_each_bad_one(
    stub: rpc.RegistryServiceStub, admin: Metadata, district: District, db: object
) -> None:
    dup_phone = phone()
    rows = [member_proto(district.community, district.grid) for _ in range(1200)]
    rows[3] = member_proto(district.community, district.grid, phone_number="999")
    rows[700] = member_proto(district.community, "no-such-grid")
    rows[10] = member_proto(district.community, district.grid, phone_number=dup_phone)
    rows[11] = member_proto(district.community, district.grid, phone_number=dup_phone)
    ids = [request_id() for _ in rows]

    async def stream():  # type: ignore[no-untyped-def]
        for rid, m in zip(ids, rows, strict=True):
            yield registry_pb2.ImportMembersRequest(
                row=registry_pb2.RegisterMemberRequest(request_id=rid, member=m)
            )

    reply = await stub.ImportMembers(stream(), metadata=admin)

    assert reply.received == 1200
    assert reply.registered == 1197
    assert sorted(e.index for e in reply.errors) == [3, 11, 700]
    by_index = {e.index: e for e in reply.errors}
    assert any("member.phone" in v for v in by_index[3].field_violations)
    assert by_index[11].code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert by_index[700].request_id == ids[700]
    assert (
        await db.fetchval(  # type: ignore[attr-defined]
            "SELECT count(*) FROM registry.member WHERE request_id = ANY($1::text[])", ids
        )
        == 1197
    )

    again = await stub.ImportMembers(stream(), metadata=admin)
    assert (again.registered, again.already_registered) == (0, 1197)


async def test_missing_or_bad_tokens_are_unauthenticated(
    stub: rpc.RegistryServiceStub, settings: RegistrySettings
) -> None:
    other_key = RegistrySettings(jwt_secret="another-key-of-a-proper-length-32-bytes+")  # type: ignore[arg-type]
    for md in (
        (),
        (("authorization", "Basic abc"),),
        auth("garbage"),
        auth(token(other_key, Role.DISTRICT_ADMIN)),
    ):
        with pytest.raises(aio.AioRpcError) as err:
            await stub.ListSkills(registry_pb2.ListSkillsRequest(), metadata=md)
        assert code(err.value) == grpc.StatusCode.UNAUTHENTICATED


async def test_an_expired_token_is_unauthenticated(
    stub: rpc.RegistryServiceStub, settings: RegistrySettings
) -> None:
    from services.common.auth import Principal, issue_token

    expired = issue_token(settings, Principal("x", Role.DISTRICT_ADMIN), ttl_s=-10)
    with pytest.raises(aio.AioRpcError) as err:
        await stub.ListSkills(registry_pb2.ListSkillsRequest(), metadata=auth(expired))
    assert code(err.value) == grpc.StatusCode.UNAUTHENTICATED
    assert "expired" in (err.value.details() or "")


async def test_staff_act_only_inside_their_community(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    settings: RegistrySettings,
) -> None:
    staff = auth(
        token(settings, Role.COMMUNITY_STAFF, "staff-1", communities=(district.community,))
    )
    mine = await register(stub, staff, district)
    theirs = (
        await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(), member=member_proto(district.far, district.far_grid)
            ),
            metadata=admin,
        )
    ).member

    with pytest.raises(aio.AioRpcError) as err:
        await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(), member=member_proto(district.far, district.far_grid)
            ),
            metadata=staff,
        )
    assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED

    # A member of another community is, for this staff account, no member at all.
    missing = "00000000-0000-0000-0000-000000000000"
    for member_id in (theirs.id, missing):
        for call in (
            stub.DeactivateMember(
                registry_pb2.DeactivateMemberRequest(member_id=member_id), metadata=staff
            ),
            stub.UpdateMember(
                registry_pb2.UpdateMemberRequest(
                    member=registry_pb2.Member(id=member_id, hours_per_month=5),
                    update_mask=field_mask_pb2.FieldMask(paths=["hours_per_month"]),
                ),
                metadata=staff,
            ),
            stub.GetMember(registry_pb2.GetMemberRequest(id=member_id), metadata=staff),
        ):
            with pytest.raises(aio.AioRpcError) as err:
                await call
            assert code(err.value) == grpc.StatusCode.NOT_FOUND
            assert err.value.details() == f"member {member_id!r} not found"
    with pytest.raises(aio.AioRpcError) as err:
        await stub.ReportIn(
            registry_pb2.ReportInRequest(
                member_id=mine.id, community_id=district.far, grid_id=district.far_grid
            ),
            metadata=staff,
        )
    assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED

    own = (await stub.GetMember(registry_pb2.GetMemberRequest(id=mine.id), metadata=staff)).member
    assert not own.phone_masked and own.phone == mine.phone and own.HasField("home")
    listed = await stub.ListMembers(registry_pb2.ListMembersRequest(page_size=1000), metadata=staff)
    assert {m.community_id for m in listed.members} == {district.community}
    assert theirs.id not in {m.id for m in listed.members}


async def test_street_admins_see_their_whole_street_and_no_further(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    settings: RegistrySettings,
) -> None:
    street_admin = auth(token(settings, Role.STREET_ADMIN, "sa", streets=(district.street,)))
    neighbour = (
        await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(),
                member=member_proto(district.neighbour, district.neighbour_grid),
            ),
            metadata=street_admin,
        )
    ).member
    far = (
        await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(), member=member_proto(district.far, district.far_grid)
            ),
            metadata=admin,
        )
    ).member

    got = (
        await stub.GetMember(registry_pb2.GetMemberRequest(id=neighbour.id), metadata=street_admin)
    ).member
    assert not got.phone_masked
    with pytest.raises(aio.AioRpcError) as err:
        await stub.GetMember(registry_pb2.GetMemberRequest(id=far.id), metadata=street_admin)
    assert code(err.value) == grpc.StatusCode.NOT_FOUND
    listed = await stub.ListMembers(
        registry_pb2.ListMembersRequest(community_id=district.far, page_size=1000),
        metadata=street_admin,
    )
    assert list(listed.members) == []


async def test_members_see_themselves_and_no_other_member(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    settings: RegistrySettings,
) -> None:
    me = await register(stub, admin, district)
    other = await register(stub, admin, district)
    as_me = auth(token(settings, Role.MEMBER, me.id))

    mine = (await stub.GetMember(registry_pb2.GetMemberRequest(id=me.id), metadata=as_me)).member
    assert mine.phone == me.phone and not mine.phone_masked

    missing = "00000000-0000-0000-0000-000000000000"
    answers = []
    for member_id in (other.id, missing):
        for call in (
            stub.GetMember(registry_pb2.GetMemberRequest(id=member_id), metadata=as_me),
            stub.DeactivateMember(
                registry_pb2.DeactivateMemberRequest(member_id=member_id), metadata=as_me
            ),
            stub.ReportIn(
                registry_pb2.ReportInRequest(
                    member_id=member_id, community_id=district.community, grid_id=district.grid
                ),
                metadata=as_me,
            ),
        ):
            with pytest.raises(aio.AioRpcError) as err:
                await call
            answers.append((err.value.code(), err.value.details().replace(member_id, "ID")))
    assert set(answers) == {(grpc.StatusCode.NOT_FOUND, "member 'ID' not found")}
    listed = await stub.ListMembers(
        registry_pb2.ListMembersRequest(community_id=district.community, page_size=1000),
        metadata=as_me,
    )
    assert [m.id for m in listed.members] == [me.id]
    with pytest.raises(aio.AioRpcError) as err:
        await register(stub, as_me, district)
    assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED


async def test_update_changes_only_the_masked_fields_and_publishes_them(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    settings: RegistrySettings,
    nats_client: NatsClient,
) -> None:
    me = await register(stub, admin, district, hours=10)
    as_me = auth(token(settings, Role.MEMBER, me.id))
    change = registry_pb2.Member(
        id=me.id,
        name="ignored because not in the mask",
        hours_per_month=24,
        skills=[registry_pb2.MemberSkill(skill="first_aid", level=3)],
    )

    reply = await stub.UpdateMember(
        registry_pb2.UpdateMemberRequest(
            member=change, update_mask=field_mask_pb2.FieldMask(paths=["hours_per_month", "skills"])
        ),
        metadata=as_me,
    )

    assert reply.member.hours_per_month == 24
    assert [(s.skill, s.level) for s in reply.member.skills] == [("first_aid", 3)]
    assert reply.member.name == me.name

    def updated(env: events_pb2.EventEnvelope) -> bool:
        e = events_pb2.MemberUpdated()
        return env.payload.Unpack(e) and e.member.id == me.id

    (event,) = await wait_for_events(
        nats_client.jetstream(), "linli.registry.member.updated", updated, 1
    )
    payload = events_pb2.MemberUpdated()
    event.payload.Unpack(payload)
    assert list(payload.update_mask.paths) == ["hours_per_month", "skills"]


async def test_update_rejects_fields_it_cannot_change(
    stub: rpc.RegistryServiceStub, admin: Metadata, district: District
) -> None:
    me = await register(stub, admin, district)
    with pytest.raises(aio.AioRpcError) as err:
        await stub.UpdateMember(
            registry_pb2.UpdateMemberRequest(
                member=registry_pb2.Member(id=me.id, community_id=district.far),
                update_mask=field_mask_pb2.FieldMask(paths=["community_id"]),
            ),
            metadata=admin,
        )
    assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT
    assert "update_mask" in bad_request_fields(err.value)


async def test_report_in_sets_the_community_and_publishes(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    settings: RegistrySettings,
    nats_client: NatsClient,
) -> None:
    me = await register(stub, admin, district, phone_number=None)
    moved = (
        await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(request_id=request_id(), member=member_proto()),
            metadata=admin,
        )
    ).member
    assert not moved.community_id and not moved.HasField("reported_in_time")
    as_member = auth(token(settings, Role.MEMBER, moved.id))

    reply = await stub.ReportIn(
        registry_pb2.ReportInRequest(
            member_id=moved.id,
            community_id=district.community,
            grid_id=district.grid,
            building_group_id=district.group,
        ),
        metadata=as_member,
    )

    assert reply.member.community_id == district.community
    assert reply.member.building_group_id == district.group
    assert reply.member.HasField("reported_in_time")

    def reported(env: events_pb2.EventEnvelope) -> bool:
        e = events_pb2.MemberReportedIn()
        return env.payload.Unpack(e) and e.member.id == moved.id

    assert (
        len(
            await wait_for_events(
                nats_client.jetstream(), "linli.registry.member.reported_in", reported, 1
            )
        )
        == 1
    )
    assert me.community_id == district.community


async def test_report_in_to_a_grid_of_another_community_is_invalid(
    stub: rpc.RegistryServiceStub, admin: Metadata, district: District
) -> None:
    me = await register(stub, admin, district)
    with pytest.raises(aio.AioRpcError) as err:
        await stub.ReportIn(
            registry_pb2.ReportInRequest(
                member_id=me.id, community_id=district.community, grid_id=district.far_grid
            ),
            metadata=admin,
        )
    assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT


async def test_deactivate_is_idempotent_and_blocks_updates(
    stub: rpc.RegistryServiceStub, admin: Metadata, district: District, nats_client: NatsClient
) -> None:
    me = await register(stub, admin, district)
    req = registry_pb2.DeactivateMemberRequest(member_id=me.id, reason="moved away")

    first = await stub.DeactivateMember(req, metadata=admin)
    second = await stub.DeactivateMember(req, metadata=admin)

    assert first.member.status == second.member.status == registry_pb2.MEMBER_STATUS_DEACTIVATED

    def deactivated(env: events_pb2.EventEnvelope) -> bool:
        e = events_pb2.MemberDeactivated()
        return env.payload.Unpack(e) and e.member.id == me.id

    assert (
        len(
            await wait_for_events(
                nats_client.jetstream(), "linli.registry.member.deactivated", deactivated, 1
            )
        )
        == 1
    )
    with pytest.raises(aio.AioRpcError) as err:
        await stub.UpdateMember(
            registry_pb2.UpdateMemberRequest(
                member=registry_pb2.Member(id=me.id, hours_per_month=5),
                update_mask=field_mask_pb2.FieldMask(paths=["hours_per_month"]),
            ),
            metadata=admin,
        )
    assert code(err.value) == grpc.StatusCode.FAILED_PRECONDITION


async def test_get_of_an_unknown_member_is_not_found(
    stub: rpc.RegistryServiceStub, admin: Metadata
) -> None:
    with pytest.raises(aio.AioRpcError) as err:
        await stub.GetMember(
            registry_pb2.GetMemberRequest(id="00000000-0000-0000-0000-000000000000"), metadata=admin
        )
    assert code(err.value) == grpc.StatusCode.NOT_FOUND
    # No member can have an id that is not a UUID: bad input, named.
    with pytest.raises(aio.AioRpcError) as err:
        await stub.GetMember(registry_pb2.GetMemberRequest(id="not-a-uuid"), metadata=admin)
    assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT
    assert set(bad_request_fields(err.value)) == {"id"}


async def test_list_members_filters_and_pages(
    stub: rpc.RegistryServiceStub, admin: Metadata, settings: RegistrySettings
) -> None:
    street, community, grid_a, grid_b = ref("st"), ref("c"), ref("g"), ref("g")
    await stub.ImportDistrict(
        registry_pb2.ImportDistrictRequest(
            content=f"""
streets:
  - id: {street}
    name: 分页街道
    communities:
      - id: {community}
        name: 分页社区
        station: {{lat: 36.97, lng: 117.16}}
        grids:
          - {{id: {grid_a}, name: A, center: {{lat: 36.97, lng: 117.16}}, radius_m: 100}}
          - {{id: {grid_b}, name: B, center: {{lat: 36.971, lng: 117.161}}, radius_m: 100}}
"""
        ),
        metadata=admin,
    )
    d = District(street, street, community, grid_a, "", community, grid_b, community, grid_b, "")
    for i in range(25):
        await register(stub, admin, d, skills=(("tutoring", 1),) if i % 2 else (("medical", 2),))
    for _ in range(5):
        await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(), member=member_proto(community, grid_b)
            ),
            metadata=admin,
        )

    seen: list[str] = []
    token_ = ""
    while True:
        page = await stub.ListMembers(
            registry_pb2.ListMembersRequest(community_id=community, page_size=7, page_token=token_),
            metadata=admin,
        )
        seen += [m.id for m in page.members]
        token_ = page.next_page_token
        if not token_:
            break
    assert len(seen) == len(set(seen)) == 30

    tutors = await stub.ListMembers(
        registry_pb2.ListMembersRequest(community_id=community, grid_id=grid_a, skill="tutoring"),
        metadata=admin,
    )
    assert len(tutors.members) == 12

    with pytest.raises(aio.AioRpcError) as err:
        await stub.ListMembers(
            registry_pb2.ListMembersRequest(
                community_id=grid_b, page_token=page.next_page_token or "bad!"
            ),
            metadata=admin,
        )
    assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT


async def test_list_skills_gives_the_catalogue(
    stub: rpc.RegistryServiceStub, admin: Metadata
) -> None:
    reply = await stub.ListSkills(registry_pb2.ListSkillsRequest(), metadata=admin)
    codes = [s.skill if hasattr(s, "skill") else s.code for s in reply.skills]
    assert "tutoring" in codes and "elderly_care" in codes and codes == sorted(codes)


async def test_stop_lets_an_in_flight_import_finish_then_refuses_new_calls(
    servers: object, admin: Metadata, district: District
) -> None:
    from services.registry.app import build

    runtime: ServiceRuntime = build(
        RegistrySettings(grpc_port=0, shutdown_grace_s=5.0),
        servers.database_url,  # type: ignore[attr-defined]
        servers.nats_url,
    )  # type: ignore[attr-defined]
    await runtime.start()
    release = asyncio.Event()

    async def rows():  # type: ignore[no-untyped-def]
        for i in range(20):
            if i == 10:
                await release.wait()
            yield registry_pb2.ImportMembersRequest(
                row=registry_pb2.RegisterMemberRequest(
                    request_id=request_id(), member=member_proto(district.community, district.grid)
                )
            )

    async with aio.insecure_channel(f"127.0.0.1:{runtime.port}") as ch:
        stub = rpc.RegistryServiceStub(ch)
        health = health_pb2_grpc.HealthStub(ch)
        call = asyncio.ensure_future(stub.ImportMembers(rows(), metadata=admin))
        await asyncio.sleep(0.3)
        stopping = asyncio.ensure_future(runtime.stop())
        await asyncio.sleep(0.3)
        release.set()
        reply = await call
        await stopping
        assert reply.registered == 20
        with pytest.raises(aio.AioRpcError) as err:
            await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
        assert code(err.value) == grpc.StatusCode.UNAVAILABLE
