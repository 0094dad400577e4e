"""The audit log over real gRPC and PostgreSQL: each reveal of a full phone, an exact home, a
resident's address or an exact distance is recorded with who, whose, when and why; masked answers
record nothing; only district administrators read the log; the log refuses change."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2
from grpc import aio

from linli.v1 import audit_pb2, audit_pb2_grpc, common_pb2, matching_pb2, registry_pb2, tasks_pb2
from services.common import audit
from services.common.auth import Role
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from tests.conftest import Servers
from tests.integration.conftest import District, code
from tests.integration.errors import bad_request_fields
from tests.integration.tasks_support import Neighbourhood, matched_neighbourhood, post, wish
from tests.integration.test_matching import posted_and_seen
from tests.support import auth, member_proto, request_id, token

pytestmark = pytest.mark.integration

Metadata = tuple[tuple[str, str], ...]
REGISTRY = "/linli.v1.RegistryService/"
TASKS = "/linli.v1.TaskService/"
MATCHING = "/linli.v1.MatchingService/"


@pytest.fixture(scope="session")
def audit_stub(channel: aio.Channel) -> audit_pb2_grpc.AuditServiceStub:
    return audit_pb2_grpc.AuditServiceStub(channel)


@pytest.fixture
async def tasks_audit(tasks_rt: ServiceRuntime) -> AsyncIterator[audit_pb2_grpc.AuditServiceStub]:
    async with aio.insecure_channel(f"127.0.0.1:{tasks_rt.port}") as ch:
        yield audit_pb2_grpc.AuditServiceStub(ch)


@pytest.fixture
async def matching_audit(
    matching_rt: ServiceRuntime,
) -> AsyncIterator[audit_pb2_grpc.AuditServiceStub]:
    async with aio.insecure_channel(f"127.0.0.1:{matching_rt.port}") as ch:
        yield audit_pb2_grpc.AuditServiceStub(ch)


def staff_of(settings: RegistrySettings, community: str) -> tuple[str, Metadata]:
    subject = f"staff-{uuid.uuid4().hex[:8]}"
    tok = token(settings, Role.COMMUNITY_STAFF, subject, communities=(community,))
    return subject, auth(tok)


def with_request(md: Metadata) -> tuple[str, Metadata]:
    rid = request_id()
    return rid, (*md, ("x-request-id", rid))


async def entries(
    stub: audit_pb2_grpc.AuditServiceStub, admin: Metadata, **filters: object
) -> list[audit_pb2.AuditEntry]:
    reply = await stub.ListAuditEntries(
        audit_pb2.ListAuditEntriesRequest(**filters),  # type: ignore[arg-type]
        metadata=admin,
    )
    return list(reply.entries)


async def register(stub, admin: Metadata, district: District) -> registry_pb2.Member:  # type: ignore[no-untyped-def]
    reply = await stub.RegisterMember(
        registry_pb2.RegisterMemberRequest(
            request_id=request_id(), member=member_proto(district.community, district.grid)
        ),
        metadata=admin,
    )
    return reply.member  # type: ignore[no-any-return]


def reveals(found: list[audit_pb2.AuditEntry]) -> list[audit_pb2.AuditEntry]:
    return [e for e in found if e.kind == audit_pb2.AUDIT_KIND_REVEAL]


async def test_a_staff_members_read_of_a_phone_is_recorded_with_who_whose_when_and_why(
    stub, audit_stub, admin: Metadata, district: District, settings: RegistrySettings
) -> None:
    member = await register(stub, admin, district)
    subject, staff = staff_of(settings, district.community)
    rid, md = with_request(staff)
    before = datetime.now(UTC) - timedelta(seconds=5)

    got = await stub.GetMember(registry_pb2.GetMemberRequest(id=member.id), metadata=md)

    assert not got.member.phone_masked
    [entry] = reveals(await entries(audit_stub, admin, actor=subject))
    assert entry.member_id == member.id and entry.service == "registry"
    assert entry.actor_role == common_pb2.ROLE_COMMUNITY_STAFF
    assert set(entry.revealed) == {"phone", "home"}
    assert entry.method == REGISTRY + "GetMember" and entry.request_id == rid
    assert before <= entry.time.ToDatetime(UTC) <= datetime.now(UTC) + timedelta(seconds=5)


async def test_list_update_and_report_in_answers_are_recorded_per_member_shown(
    stub, audit_stub, admin: Metadata, district: District, settings: RegistrySettings
) -> None:
    member = await register(stub, admin, district)
    subject, staff = staff_of(settings, district.community)

    listed = await stub.ListMembers(
        registry_pb2.ListMembersRequest(community_id=district.community, page_size=1000),
        metadata=staff,
    )
    await stub.UpdateMember(
        registry_pb2.UpdateMemberRequest(
            member=registry_pb2.Member(id=member.id, hours_per_month=7),
            update_mask=field_mask_pb2.FieldMask(paths=["hours_per_month"]),
        ),
        metadata=staff,
    )
    await stub.ReportIn(
        registry_pb2.ReportInRequest(
            member_id=member.id, community_id=district.community, grid_id=district.grid
        ),
        metadata=staff,
    )

    found = await entries(audit_stub, admin, actor=subject)
    by_method = {(e.method, e.member_id) for e in reveals(found)}
    assert {(REGISTRY + "ListMembers", m.id) for m in listed.members} <= by_method
    assert (REGISTRY + "UpdateMember", member.id) in by_method
    assert (REGISTRY + "ReportIn", member.id) in by_method
    # The change itself is in the log too, in the same transaction as the change.
    writes = [e for e in found if e.kind == audit_pb2.AUDIT_KIND_WRITE]
    assert any(
        e.action == "linli.registry.member.updated"
        and e.member_id == member.id
        and e.method == REGISTRY + "UpdateMember"
        for e in writes
    )


async def test_a_member_reading_themself_and_a_refused_read_record_nothing(
    stub, audit_stub, admin: Metadata, district: District, settings: RegistrySettings
) -> None:
    member = await register(stub, admin, district)
    own = auth(token(settings, Role.MEMBER, member.id))
    await stub.GetMember(registry_pb2.GetMemberRequest(id=member.id), metadata=own)
    subject, outsider = staff_of(settings, district.far)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.GetMember(registry_pb2.GetMemberRequest(id=member.id), metadata=outsider)
    assert code(refused.value) is grpc.StatusCode.NOT_FOUND

    assert reveals(await entries(audit_stub, admin, actor=member.id)) == []
    assert await entries(audit_stub, admin, actor=subject) == []


async def test_only_district_administrators_read_the_log(
    stub, audit_stub, admin: Metadata, district: District, settings: RegistrySettings
) -> None:
    _, staff = staff_of(settings, district.community)
    street_admin = auth(token(settings, Role.STREET_ADMIN, "sa", streets=(district.street,)))
    member = auth(token(settings, Role.MEMBER, str(uuid.uuid4())))
    service = auth(token(settings, Role.SERVICE, "backend"))
    for md in (staff, street_admin, member, service):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await entries(audit_stub, md)
        assert code(refused.value) is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await entries(audit_stub, ())
    assert code(unknown.value) is grpc.StatusCode.UNAUTHENTICATED


async def test_bad_filters_name_their_field(audit_stub, admin: Metadata) -> None:
    now = timestamp_pb2.Timestamp(seconds=int(datetime.now(UTC).timestamp()))
    earlier = timestamp_pb2.Timestamp(seconds=now.seconds - 60)
    for filters, field in (
        ({"actor": "x" * 200}, "actor"),
        ({"member_id": "x" * 200}, "member_id"),
        ({"start_time": now, "end_time": earlier}, "end_time"),
        ({"page_token": "not-a-token"}, "page_token"),
        ({"page_size": -1}, "page_size"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await entries(audit_stub, admin, **filters)
        assert code(bad.value) is grpc.StatusCode.INVALID_ARGUMENT
        assert field in bad_request_fields(bad.value)


async def test_the_log_pages_and_filters_by_time(
    stub, audit_stub, admin: Metadata, district: District, settings: RegistrySettings
) -> None:
    member = await register(stub, admin, district)
    subject, staff = staff_of(settings, district.community)
    for _ in range(3):
        await stub.GetMember(registry_pb2.GetMemberRequest(id=member.id), metadata=staff)

    first = await audit_stub.ListAuditEntries(
        audit_pb2.ListAuditEntriesRequest(actor=subject, page_size=2), metadata=admin
    )
    rest = await audit_stub.ListAuditEntries(
        audit_pb2.ListAuditEntriesRequest(
            actor=subject, page_size=2, page_token=first.next_page_token
        ),
        metadata=admin,
    )
    ids = [e.id for e in [*first.entries, *rest.entries]]
    assert len(ids) == 3 and len(set(ids)) == 3 and rest.next_page_token == ""
    future = timestamp_pb2.Timestamp(seconds=int(datetime.now(UTC).timestamp()) + 3600)
    assert await entries(audit_stub, admin, actor=subject, start_time=future) == []
    by_member = await entries(audit_stub, admin, member_id=member.id)
    # The registration's answer showed the phone to the administrator who registered them.
    assert {e.actor for e in reveals(by_member)} == {subject, "district-admin"}


async def test_the_log_refuses_update_delete_and_truncate(
    servers: Servers, registry: ServiceRuntime
) -> None:
    async with registry.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO audit_entry (actor, actor_role, kind, action, method, request_id)"
            " VALUES ('someone', 'district_admin', 'reveal', 'read', 'm', 'r')"
        )
        for sql in (
            "UPDATE audit_entry SET action = 'changed' WHERE actor = 'someone'",
            "DELETE FROM audit_entry WHERE actor = 'someone'",
            "TRUNCATE audit_entry",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
        # Nor may an id be replaced by anything but an erasure's pseudonym.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE audit_entry SET actor = 'other' WHERE actor = 'someone'")


async def test_anonymise_replaces_an_erased_members_id_everywhere_in_the_log(
    stub, audit_stub, admin: Metadata, district: District, registry: ServiceRuntime
) -> None:
    member = await register(stub, admin, district)
    own = auth(token(registry.settings, Role.MEMBER, member.id))
    await stub.UpdateMember(
        registry_pb2.UpdateMemberRequest(
            member=registry_pb2.Member(id=member.id, hours_per_month=5),
            update_mask=field_mask_pb2.FieldMask(paths=["hours_per_month"]),
        ),
        metadata=own,
    )
    await stub.GetMember(registry_pb2.GetMemberRequest(id=member.id), metadata=admin)
    assert await entries(audit_stub, admin, member_id=member.id)

    async with registry.pool.acquire() as conn, conn.transaction():
        pseudonym = await audit.anonymise(conn, "registry", member.id)

    assert await entries(audit_stub, admin, member_id=member.id) == []
    kept = await entries(audit_stub, admin, member_id=pseudonym)
    assert any(e.actor == pseudonym for e in kept)  # the member's own change
    assert any(e.kind == audit_pb2.AUDIT_KIND_REVEAL for e in kept)  # the admin's read
    assert all(member.id not in (e.actor, e.member_id) for e in kept)


# -- the task service and matching -----------------------------------------------------------------


@pytest.fixture
async def hood(stub, tasks_rt, matching_rt, settings: RegistrySettings) -> Neighbourhood:  # type: ignore[no-untyped-def]
    return await matched_neighbourhood(
        stub, tasks_rt, matching_rt, settings, members=3, outsiders=1
    )


async def test_a_wish_address_shown_to_staff_is_recorded_and_a_masked_one_is_not(
    task_stub, tasks_audit, hood: Neighbourhood, settings: RegistrySettings
) -> None:
    task = await post(task_stub, hood.staff, wish(hood.home))
    subject, staff = staff_of(settings, hood.home)
    rid, md = with_request(staff)

    got = await task_stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=md)
    listed = await task_stub.ListTasks(
        tasks_pb2.ListTasksRequest(community_id=hood.home), metadata=staff
    )
    member = hood.as_member(hood.members[0])
    seen = await task_stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=member)

    assert got.task.address and not seen.task.address
    found = reveals(await entries(tasks_audit, hood.admin, actor=subject))
    shown = [e for e in found if e.task_id == task.id]
    assert {e.method for e in shown} == {TASKS + "GetTask", TASKS + "ListTasks"}
    assert all(e.revealed == ["address"] and e.service == "tasks" for e in shown)
    assert next(e for e in shown if e.method == TASKS + "GetTask").request_id == rid
    assert len([t for t in listed.tasks if t.address]) == len(
        [e for e in found if e.method == TASKS + "ListTasks"]
    )
    assert reveals(await entries(tasks_audit, hood.admin, actor=hood.members[0])) == []


async def test_an_exact_distance_from_home_shown_by_matching_is_recorded(
    task_stub, match_stub, matching_audit, matching_rt: ServiceRuntime, hood: Neighbourhood
) -> None:
    [task] = await posted_and_seen(task_stub, matching_rt, hood, 1)
    subject = "staff-home"  # hood.staff's subject

    suggested = await match_stub.SuggestMembers(
        matching_pb2.SuggestMembersRequest(task_id=task.id, limit=3), metadata=hood.staff
    )
    assert suggested.members
    found = reveals(await entries(matching_audit, hood.admin, actor=subject))
    mine = [e for e in found if e.task_id == task.id and e.method == MATCHING + "SuggestMembers"]
    assert {e.member_id for e in mine} == {
        s.member_id for s in suggested.members if s.member_id in hood.members
    }
    assert all(e.revealed == ["distance"] and e.service == "matching" for e in mine)


async def test_an_answer_whose_reveal_cannot_be_recorded_is_withheld(
    stub, admin: Metadata, district: District, registry: ServiceRuntime, settings: RegistrySettings
) -> None:
    member = await register(stub, admin, district)
    _, staff = staff_of(settings, district.community)
    own = auth(token(settings, Role.MEMBER, member.id))
    async with registry.pool.acquire() as conn:
        await conn.execute("ALTER TABLE registry.audit_entry RENAME TO audit_entry_away")
        try:
            with pytest.raises(grpc.aio.AioRpcError) as withheld:
                await stub.GetMember(registry_pb2.GetMemberRequest(id=member.id), metadata=staff)
            # A read that reveals nothing needs no record and is answered as before.
            mine = await stub.GetMember(registry_pb2.GetMemberRequest(id=member.id), metadata=own)
        finally:
            await conn.execute("ALTER TABLE registry.audit_entry_away RENAME TO audit_entry")
    assert code(withheld.value) is grpc.StatusCode.UNAVAILABLE
    assert member.phone not in str(withheld.value.details())
    assert mine.member.phone == member.phone
    await stub.GetMember(registry_pb2.GetMemberRequest(id=member.id), metadata=staff)


async def test_a_runs_planned_members_exact_distances_shown_are_recorded(
    task_stub, match_stub, matching_audit, matching_rt: ServiceRuntime, hood: Neighbourhood
) -> None:
    tasks = await posted_and_seen(task_stub, matching_rt, hood, 2)
    run = (
        await match_stub.RunMatching(
            matching_pb2.RunMatchingRequest(community_id=hood.home, dry_run=True, time_limit_s=5),
            metadata=hood.staff,
        )
    ).run
    rid, md = with_request(hood.admin)

    planned = await match_stub.ListMatchAssignments(
        matching_pb2.ListMatchAssignmentsRequest(run_id=run.id), metadata=md
    )

    shown = {
        (a.task_id, m)
        for a in planned.assignments
        if a.task_id in {t.id for t in tasks}
        for m in [a.member_id, *(alt.member_id for alt in a.alternatives)]
    }
    assert shown
    found = [
        e
        for e in reveals(await entries(matching_audit, hood.admin, actor="tester"))
        if e.request_id == rid
    ]
    assert {(e.task_id, e.member_id) for e in found} >= shown
    assert all(
        e.method == MATCHING + "ListMatchAssignments" and e.revealed == ["distance"] for e in found
    )


async def test_a_read_showing_a_certificate_number_is_recorded_as_such(
    stub, audit_stub, admin: Metadata, district: District, settings: RegistrySettings
) -> None:
    reply = await stub.RegisterMember(
        registry_pb2.RegisterMemberRequest(
            request_id=request_id(),
            member=member_proto(district.community, district.grid, skills=(("medical", 2),)),
        ),
        metadata=admin,
    )
    member = reply.member
    expires = timestamp_pb2.Timestamp()
    expires.FromDatetime(datetime.now(UTC) + timedelta(days=300))
    await stub.VerifySkill(
        registry_pb2.VerifySkillRequest(
            member_id=member.id, skill="medical", certificate_number="110101", expire_time=expires
        ),
        metadata=admin,
    )
    subject, staff = staff_of(settings, district.community)
    await stub.GetMember(registry_pb2.GetMemberRequest(id=member.id), metadata=staff)
    [entry] = reveals(await entries(audit_stub, admin, actor=subject))
    assert set(entry.revealed) == {"phone", "home", "certificate"}
