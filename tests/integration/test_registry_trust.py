"""What the registry never gives away: whose a phone number is, whether a member exists, and
the registry's time to a hostile district file; and the way back for a deactivated member."""

from __future__ import annotations

import asyncio
import re

import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc import aio
from nats.aio.client import Client as NatsClient

from linli.v1 import events_pb2, registry_pb2
from linli.v1 import registry_pb2_grpc as rpc
from services.common.auth import Role
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from services.common.sms.dev import LogSms
from services.registry.api import IMPORT_BATCH
from tests.integration.conftest import District, code
from tests.integration.errors import bad_request_fields
from tests.integration.events import wait_for_events
from tests.support import auth, member_proto, phone, ref, request_id, token

pytestmark = pytest.mark.integration

Metadata = tuple[tuple[str, str], ...]
MISSING = "00000000-0000-0000-0000-000000000000"


async def register(
    stub: rpc.RegistryServiceStub,
    md: Metadata,
    district: District,
    number: str | None = None,
) -> registry_pb2.Member:
    reply = await stub.RegisterMember(
        registry_pb2.RegisterMemberRequest(
            request_id=request_id(),
            member=member_proto(district.community, district.grid, phone_number=number),
        ),
        metadata=md,
    )
    return reply.member


def phone_update(member_id: str, number: str, hours: int | None = None):  # type: ignore[no-untyped-def]
    paths = ["phone"] if hours is None else ["phone", "hours_per_month"]
    return registry_pb2.UpdateMemberRequest(
        member=registry_pb2.Member(id=member_id, phone=number, hours_per_month=hours or 0),
        update_mask=field_mask_pb2.FieldMask(paths=paths),
    )


def sms(registry: ServiceRuntime) -> LogSms:
    kept = registry.sms  # type: ignore[attr-defined]
    assert isinstance(kept, LogSms)
    return kept


def code_in(text: str) -> str | None:
    found = re.search(r"\b(\d{6})\b", text)
    return found.group(1) if found else None


async def failure(call) -> aio.AioRpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(aio.AioRpcError) as err:
        await call
    return err.value


# -- phones ------------------------------------------------------------------------------------


async def test_a_member_changes_their_phone_only_with_the_code_sent_to_the_new_number(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    settings: RegistrySettings,
    registry: ServiceRuntime,
) -> None:
    me = await register(stub, admin, district)
    as_me = auth(token(settings, Role.MEMBER, me.id))
    new = phone()

    reply = await stub.UpdateMember(phone_update(me.id, new, hours=7), metadata=as_me)

    assert reply.phone_change_pending
    assert reply.member.phone == me.phone and reply.member.hours_per_month == 7
    message = sms(registry).last_to(new)
    assert message is not None
    sent = code_in(message.text)
    assert sent is not None
    wrong = "000000" if sent != "000000" else "111111"
    err = await failure(
        stub.ConfirmPhoneChange(
            registry_pb2.ConfirmPhoneChangeRequest(member_id=me.id, code=wrong), metadata=as_me
        )
    )
    assert code(err) == grpc.StatusCode.INVALID_ARGUMENT
    assert set(bad_request_fields(err)) == {"code"}
    confirmed = await stub.ConfirmPhoneChange(
        registry_pb2.ConfirmPhoneChangeRequest(member_id=me.id, code=sent), metadata=as_me
    )
    assert confirmed.member.phone == new
    again = await failure(
        stub.ConfirmPhoneChange(
            registry_pb2.ConfirmPhoneChangeRequest(member_id=me.id, code=sent), metadata=as_me
        )
    )
    assert code(again) == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_taken_number_answers_exactly_as_a_free_one_and_can_never_be_confirmed(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    settings: RegistrySettings,
    registry: ServiceRuntime,
) -> None:
    holder = await register(stub, admin, district)
    prober = await register(stub, admin, district)
    as_prober = auth(token(settings, Role.MEMBER, prober.id))
    free = phone()

    to_taken = await stub.UpdateMember(phone_update(prober.id, holder.phone), metadata=as_prober)
    to_free = await stub.UpdateMember(phone_update(prober.id, free), metadata=as_prober)

    def shape(r: registry_pb2.UpdateMemberResponse) -> tuple[object, ...]:
        m = r.member
        return (r.phone_change_pending, m.phone, m.phone_masked, m.id, m.status)

    assert shape(to_taken) == shape(to_free)
    assert holder.id not in str(to_taken) and holder.phone not in str(to_taken)
    notice = sms(registry).last_to(holder.phone)
    assert notice is not None and code_in(notice.text) is None  # a notice, never a code
    # The pending change is now the free number; asking for the taken one again and guessing
    # codes gets the same answer as any wrong code.
    await stub.UpdateMember(phone_update(prober.id, holder.phone), metadata=as_prober)
    answers = set()
    for guess in ("123456", "654321"):
        err = await failure(
            stub.ConfirmPhoneChange(
                registry_pb2.ConfirmPhoneChangeRequest(member_id=prober.id, code=guess),
                metadata=as_prober,
            )
        )
        answers.add((err.code(), err.details()))
    assert answers == {
        (
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid argument: code: does not match a pending phone change, or has expired",
        )
    }
    still = await stub.GetMember(registry_pb2.GetMemberRequest(id=holder.id), metadata=admin)
    assert still.member.phone == holder.phone


async def test_phone_changes_are_limited_per_member_a_day(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    settings: RegistrySettings,
) -> None:
    me = await register(stub, admin, district)
    as_me = auth(token(settings, Role.MEMBER, me.id))
    for _ in range(settings.phone_changes_per_member_per_day):
        await stub.UpdateMember(phone_update(me.id, phone()), metadata=as_me)

    err = await failure(stub.UpdateMember(phone_update(me.id, phone()), metadata=as_me))

    assert code(err) == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Staff changing the same member's phone meet the same per-member limit.
    staff = auth(token(settings, Role.COMMUNITY_STAFF, ref("s"), communities=(district.community,)))
    err = await failure(stub.UpdateMember(phone_update(me.id, phone()), metadata=staff))
    assert code(err) == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_staff_learn_a_number_is_taken_but_not_whose_and_only_a_few_times_a_day(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    settings: RegistrySettings,
) -> None:
    holder = await register(stub, admin, district)
    staff = auth(token(settings, Role.COMMUNITY_STAFF, ref("s"), communities=(district.community,)))

    err = await failure(register(stub, staff, district, number=holder.phone))

    assert code(err) == grpc.StatusCode.ALREADY_EXISTS
    said = err.details() or ""
    assert holder.id not in said and holder.phone[-2:] + "'" not in said
    assert not re.search(r"\d{2,}", said)  # no digits of anyone's number
    for _ in range(settings.phone_conflicts_per_caller_per_day - 1):
        await failure(register(stub, staff, district, number=holder.phone))
    limited = await failure(register(stub, staff, district, number=holder.phone))
    assert code(limited) == grpc.StatusCode.RESOURCE_EXHAUSTED
    # District administrators loading files are not limited.
    assert code(await failure(register(stub, admin, district, number=holder.phone))) == (
        grpc.StatusCode.ALREADY_EXISTS
    )


# -- existence ---------------------------------------------------------------------------------


async def test_every_member_call_answers_a_foreign_member_as_a_missing_one(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    settings: RegistrySettings,
) -> None:
    far = (
        await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(), member=member_proto(district.far, district.far_grid)
            ),
            metadata=admin,
        )
    ).member
    staff = auth(token(settings, Role.COMMUNITY_STAFF, ref("s"), communities=(district.community,)))

    def calls(member_id: str) -> list[object]:
        return [
            stub.GetMember(registry_pb2.GetMemberRequest(id=member_id), metadata=staff),
            stub.UpdateMember(phone_update(member_id, phone()), metadata=staff),
            stub.DeactivateMember(
                registry_pb2.DeactivateMemberRequest(member_id=member_id), metadata=staff
            ),
            stub.ReactivateMember(
                registry_pb2.ReactivateMemberRequest(member_id=member_id), metadata=staff
            ),
            stub.ReportIn(
                registry_pb2.ReportInRequest(
                    member_id=member_id, community_id=district.community, grid_id=district.grid
                ),
                metadata=staff,
            ),
            stub.ConfirmPhoneChange(
                registry_pb2.ConfirmPhoneChangeRequest(member_id=member_id, code="123456"),
                metadata=staff,
            ),
        ]

    for foreign, missing in zip(calls(far.id), calls(MISSING), strict=True):
        a, b = await failure(foreign), await failure(missing)
        assert (a.code(), a.details().replace(far.id, "ID")) == (
            b.code(),
            b.details().replace(MISSING, "ID"),
        )
        assert a.code() == grpc.StatusCode.NOT_FOUND


# -- unknown references ------------------------------------------------------------------------


async def test_unknown_places_and_units_are_invalid_fields_for_every_caller(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    settings: RegistrySettings,
) -> None:
    staff = auth(token(settings, Role.COMMUNITY_STAFF, ref("s"), communities=(district.community,)))
    street_admin = auth(token(settings, Role.STREET_ADMIN, ref("a"), streets=(district.street,)))
    me = await register(stub, admin, district)
    nowhere = ref("nowhere")

    for md in (staff, street_admin, admin):
        err = await failure(
            stub.RegisterMember(
                registry_pb2.RegisterMemberRequest(
                    request_id=request_id(), member=member_proto(nowhere, district.grid)
                ),
                metadata=md,
            )
        )
        assert code(err) == grpc.StatusCode.INVALID_ARGUMENT
        assert "member.community_id" in bad_request_fields(err)
        for req, field in (
            (
                registry_pb2.ReportInRequest(community_id=nowhere, grid_id=district.grid),
                "community_id",
            ),
            (
                registry_pb2.ReportInRequest(community_id=district.community, grid_id=nowhere),
                "grid_id",
            ),
            (
                registry_pb2.ReportInRequest(
                    community_id=district.community,
                    grid_id=district.grid,
                    building_group_id=nowhere,
                ),
                "building_group_id",
            ),
        ):
            req.member_id = me.id
            err = await failure(stub.ReportIn(req, metadata=md))
            assert code(err) == grpc.StatusCode.INVALID_ARGUMENT
            assert field in bad_request_fields(err)
        err = await failure(
            stub.UpdateMember(
                registry_pb2.UpdateMemberRequest(
                    member=registry_pb2.Member(id=me.id, unit_id=nowhere),
                    update_mask=field_mask_pb2.FieldMask(paths=["unit_id"]),
                ),
                metadata=md,
            )
        )
        assert code(err) == grpc.StatusCode.INVALID_ARGUMENT
        assert "member.unit_id" in bad_request_fields(err)
        err = await failure(
            stub.CreateGrid(
                registry_pb2.CreateGridRequest(
                    grid=registry_pb2.Grid(
                        id=ref("g"),
                        name="网格",
                        community_id=nowhere,
                        center={"latitude": 36.98, "longitude": 117.17},
                        radius_m=100,
                    )
                ),
                metadata=md,
            )
        )
        assert code(err) == grpc.StatusCode.INVALID_ARGUMENT
        assert "grid.community_id" in bad_request_fields(err)


async def test_ids_the_database_cannot_hold_are_invalid_not_internal(
    stub: rpc.RegistryServiceStub, admin: Metadata
) -> None:
    for call in (
        stub.GetCommunity(registry_pb2.GetCommunityRequest(id="c\x00x"), metadata=admin),
        stub.ListGrids(registry_pb2.ListGridsRequest(community_id="c\x00x"), metadata=admin),
        stub.ListMembers(registry_pb2.ListMembersRequest(grid_id="g\x00x"), metadata=admin),
        stub.GetMember(registry_pb2.GetMemberRequest(id="x" * 10_000), metadata=admin),
    ):
        err = await failure(call)
        assert code(err) == grpc.StatusCode.INVALID_ARGUMENT
        assert len(err.details() or "") < 500


# -- the way back ------------------------------------------------------------------------------


async def test_a_deactivated_member_is_reactivated_once_by_staff_of_their_community(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    settings: RegistrySettings,
    nats_client: NatsClient,
) -> None:
    me = await register(stub, admin, district)
    as_me = auth(token(settings, Role.MEMBER, me.id))
    staff = auth(token(settings, Role.COMMUNITY_STAFF, ref("s"), communities=(district.community,)))
    neighbour_staff = auth(
        token(settings, Role.COMMUNITY_STAFF, ref("s"), communities=(district.neighbour,))
    )
    await stub.DeactivateMember(
        registry_pb2.DeactivateMemberRequest(member_id=me.id, reason="搬离"), metadata=staff
    )

    denied = await failure(
        stub.ReactivateMember(registry_pb2.ReactivateMemberRequest(member_id=me.id), metadata=as_me)
    )
    # Forbidden; or, once the identity service has announced that the deactivation ended the
    # member's sign-ins, their token (issued before it) is refused as revoked.
    assert (code(denied), denied.details()) in {
        (grpc.StatusCode.PERMISSION_DENIED, denied.details()),
        (grpc.StatusCode.UNAUTHENTICATED, "token revoked"),
    }
    hidden = await failure(
        stub.ReactivateMember(
            registry_pb2.ReactivateMemberRequest(member_id=me.id), metadata=neighbour_staff
        )
    )
    assert code(hidden) == grpc.StatusCode.NOT_FOUND
    first = await stub.ReactivateMember(
        registry_pb2.ReactivateMemberRequest(member_id=me.id), metadata=staff
    )
    second = await stub.ReactivateMember(
        registry_pb2.ReactivateMemberRequest(member_id=me.id), metadata=staff
    )

    assert first.member.status == registry_pb2.MEMBER_STATUS_ACTIVE
    assert second.member == first.member
    # Signed in again (the deactivation may have ended the sign-ins of before).
    as_me_again = auth(token(settings, Role.MEMBER, me.id))
    updated = await stub.UpdateMember(
        registry_pb2.UpdateMemberRequest(
            member=registry_pb2.Member(id=me.id, hours_per_month=3),
            update_mask=field_mask_pb2.FieldMask(paths=["hours_per_month"]),
        ),
        metadata=as_me_again,
    )
    assert updated.member.hours_per_month == 3

    def reactivated(env: events_pb2.EventEnvelope) -> bool:
        payload = events_pb2.MemberReactivated()
        return env.payload.Unpack(payload) and payload.member.id == me.id

    found = await wait_for_events(
        nats_client.jetstream(), "linli.registry.member.reactivated", reactivated, 1
    )
    assert len(found) == 1


# -- bad files and streams ---------------------------------------------------------------------


async def test_hostile_district_files_are_refused_at_their_line_and_others_keep_answering(
    stub: rpc.RegistryServiceStub, admin: Metadata
) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{k}: &{k} [{', '.join(['*' + p] * 9)}]\n"
        for p, k in zip("abcdefgh", "bcdefghi", strict=True)
    )
    deep = "streets: " + "[" * 3000 + "]" * 3000 + "\n"
    for text in (bomb, deep):
        err = await failure(
            stub.ImportDistrict(registry_pb2.ImportDistrictRequest(content=text), metadata=admin)
        )
        assert code(err) == grpc.StatusCode.INVALID_ARGUMENT
        assert list(bad_request_fields(err)) == ["line 1"]
    skills = await stub.ListSkills(registry_pb2.ListSkillsRequest(), metadata=admin)
    assert skills.skills


async def test_an_import_stream_that_breaks_writes_nothing(
    channel: aio.Channel, admin: Metadata, district: District, db: object
) -> None:
    rows = [
        registry_pb2.ImportMembersRequest(
            row=registry_pb2.RegisterMemberRequest(
                request_id=request_id(), member=member_proto(district.community, district.grid)
            )
        ).SerializeToString()
        for _ in range(IMPORT_BATCH + 1)  # more than one batch: the first used to land
    ]
    import_members = channel.stream_unary(
        "/linli.v1.RegistryService/ImportMembers",
        request_serializer=lambda raw: raw,
        response_deserializer=registry_pb2.ImportMembersResponse.FromString,
    )

    async def stream():  # type: ignore[no-untyped-def]
        for raw in rows:
            yield raw
        yield b"\xff\xff\xff"  # not a protobuf message

    err = await failure(import_members(stream(), metadata=admin))

    assert code(err) == grpc.StatusCode.INVALID_ARGUMENT
    assert list(bad_request_fields(err)) == [f"requests[{len(rows)}]"]
    ids = [registry_pb2.ImportMembersRequest.FromString(r).row.request_id for r in rows]
    written = await db.fetchval(  # type: ignore[attr-defined]
        "SELECT count(*) FROM registry.member WHERE request_id = ANY($1::text[])", ids
    )
    assert written == 0


async def test_other_calls_keep_answering_while_a_large_district_file_is_read(
    stub: rpc.RegistryServiceStub, admin: Metadata, district: District
) -> None:
    paired = district.community
    units = "".join(
        f"  - {{id: u-load-{i:05d}, name: 单位{i}, kind: government, community: {paired}}}\n"
        for i in range(30_000)
    )
    text = f"units:\n{units}  - {{id: u-load-bad, name: 单位, kind: nonsense, community: x}}\n"
    importing = asyncio.ensure_future(
        stub.ImportDistrict(registry_pb2.ImportDistrictRequest(content=text), metadata=admin)
    )
    answered_meanwhile = 0
    while not importing.done():
        await stub.ListSkills(registry_pb2.ListSkillsRequest(), metadata=admin)
        answered_meanwhile += not importing.done()

    err = await failure(importing)
    assert code(err) == grpc.StatusCode.INVALID_ARGUMENT
    # Read on the event loop, the file would hold every call until it was done.
    assert answered_meanwhile >= 10, answered_meanwhile


async def test_rows_that_decode_but_are_bad_are_refused_one_by_one_and_the_good_ones_land(
    stub: rpc.RegistryServiceStub, admin: Metadata, district: District
) -> None:
    good = registry_pb2.RegisterMemberRequest(
        request_id=request_id(), member=member_proto(district.community, district.grid)
    )
    odd = [
        registry_pb2.RegisterMemberRequest(),  # an empty row
        registry_pb2.RegisterMemberRequest(
            request_id="r\x00" + "x" * 5000, member=member_proto(district.community, district.grid)
        ),
        registry_pb2.RegisterMemberRequest(
            request_id=request_id(), member=member_proto("c\x00x", district.grid)
        ),
        registry_pb2.RegisterMemberRequest(
            request_id=request_id(),
            member=member_proto(district.community, district.grid, name="名\x00字"),
        ),
    ]

    async def stream():  # type: ignore[no-untyped-def]
        for row in [*odd, good]:
            yield registry_pb2.ImportMembersRequest(row=row)

    reply = await stub.ImportMembers(stream(), metadata=admin)

    assert (reply.received, reply.registered) == (5, 1)
    assert [(e.index, e.code) for e in reply.errors] == [
        (i, grpc.StatusCode.INVALID_ARGUMENT.value[0]) for i in range(4)
    ]
    assert all(len(e.message) < 1000 and len(e.request_id) <= 64 for e in reply.errors)


async def test_an_import_cannot_learn_more_taken_numbers_than_the_daily_allowance(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    settings: RegistrySettings,
    db: object,
) -> None:
    holder = await register(stub, admin, district)
    staff = auth(token(settings, Role.COMMUNITY_STAFF, ref("s"), communities=(district.community,)))
    free_row = registry_pb2.RegisterMemberRequest(
        request_id=request_id(), member=member_proto(district.community, district.grid)
    )
    taken_rows = [
        registry_pb2.RegisterMemberRequest(
            request_id=request_id(),
            member=member_proto(district.community, district.grid, phone_number=holder.phone),
        )
        for _ in range(settings.phone_conflicts_per_caller_per_day + 1)
    ]

    async def stream():  # type: ignore[no-untyped-def]
        for row in [free_row, *taken_rows]:
            yield registry_pb2.ImportMembersRequest(row=row)

    err = await failure(stub.ImportMembers(stream(), metadata=staff))

    assert code(err) == grpc.StatusCode.RESOURCE_EXHAUSTED
    written = await db.fetchval(  # type: ignore[attr-defined]
        "SELECT count(*) FROM registry.member WHERE request_id = $1", free_row.request_id
    )
    assert written == 0
    # From now on every registration by this account is refused, free number or taken.
    for number in (phone(), holder.phone):
        assert code(await failure(register(stub, staff, district, number=number))) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED
        )


async def test_the_other_services_see_a_reactivated_member_active_again(
    stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
) -> None:
    from tests.integration.tasks_support import until

    me = await register(stub, admin, district)
    tasks_store = tasks_rt.tasks.store  # type: ignore[attr-defined]
    world = matching_rt.matching.world  # type: ignore[attr-defined]

    async def active_everywhere(active: bool) -> bool:
        view = await tasks_store.member_view(None, me.id)
        seen = world.members.get(me.id)
        return (
            view is not None and view.active is active and seen is not None
        ) and seen.active is active

    await until(lambda: active_everywhere(True), timeout=30)
    await stub.DeactivateMember(
        registry_pb2.DeactivateMemberRequest(member_id=me.id), metadata=admin
    )
    await until(lambda: active_everywhere(False), timeout=30)
    await stub.ReactivateMember(
        registry_pb2.ReactivateMemberRequest(member_id=me.id), metadata=admin
    )

    await until(lambda: active_everywhere(True), timeout=10)
