"""The whole system's audit log as a district administrator reads it: the client asks every
service and merges by time, and `linli audit` prints it as a table or JSON."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from linli.v1 import matching_pb2, registry_pb2, tasks_pb2
from services.client import Stubs, bearer
from services.client.audit import audit_log
from services.common.auth import Role
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from services.notifications.app import build as build_notifications
from tests.conftest import Servers
from tests.integration.affairs_support import affairs_clock, affairs_rt, affairs_settings
from tests.integration.cli_support import linli, where
from tests.integration.identity_support import IdentityUnderTest
from tests.integration.notify_support import settings as notify_settings
from tests.integration.tasks_support import Neighbourhood, matched_neighbourhood
from tests.integration.test_matching import posted_and_seen
from tests.support import token

__all__ = ["affairs_clock", "affairs_rt", "affairs_settings"]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def notifications(servers: Servers) -> AsyncIterator[ServiceRuntime]:
    """The notifications service, whose audit log the command asks too (as of every service)."""
    runtime = build_notifications(notify_settings(), servers.database_url, servers.nats_url)
    await runtime.start()
    yield runtime
    await runtime.stop(grace=1.0)


@pytest.fixture
async def story(  # type: ignore[no-untyped-def]
    stub, task_stub, match_stub, tasks_rt, matching_rt, settings: RegistrySettings
) -> tuple[Neighbourhood, str]:
    """A member registered, read by staff, suggested for a task by matching, claiming it."""
    hood = await matched_neighbourhood(
        stub, tasks_rt, matching_rt, settings, members=2, outsiders=0
    )
    member = hood.members[0]
    await stub.GetMember(registry_pb2.GetMemberRequest(id=member), metadata=hood.staff)
    [task] = await posted_and_seen(task_stub, matching_rt, hood, 1)
    await match_stub.SuggestMembers(
        matching_pb2.SuggestMembersRequest(task_id=task.id), metadata=hood.staff
    )
    await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(member)
    )
    return hood, member


async def test_the_client_merges_every_services_entries_by_time(
    story: tuple[Neighbourhood, str],
    registry: ServiceRuntime,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
    settings: RegistrySettings,
    identity: IdentityUnderTest,
) -> None:
    _, member = story
    admin = bearer(token(settings, Role.DISTRICT_ADMIN, "auditor"))
    async with Stubs(
        {
            k.split("_")[1].lower(): v
            for k, v in where(registry, tasks_rt, matching_rt, identity.runtime).items()
        }
    ) as stubs:
        found = await audit_log(stubs, admin, member_id=member)

    assert {"registry", "tasks", "matching"} <= {e.service for e in found}
    times = [(e.time.seconds, e.time.nanos) for e in found]
    assert times == sorted(times)
    said = {(e.service, e.method.rsplit("/", 1)[-1], e.actor) for e in found}
    assert ("registry", "RegisterMember", "tester") in said  # hood's administrator
    assert ("registry", "GetMember", "staff-home") in said
    assert ("matching", "SuggestMembers", "staff-home") in said
    assert ("tasks", "ClaimTask", member) in said


async def test_linli_audit_prints_the_log_as_json_and_as_a_table(
    story: tuple[Neighbourhood, str],
    registry: ServiceRuntime,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
    settings: RegistrySettings,
    identity: IdentityUnderTest,
    notifications: ServiceRuntime,
    points_rt: ServiceRuntime,
    affairs_rt: ServiceRuntime,
) -> None:
    hood, member = story
    # Every service's log is read.
    env = where(
        registry,
        tasks_rt,
        matching_rt,
        identity.runtime,
        notifications,
        points=points_rt,
        affairs=affairs_rt,
    ) | {"LINLI_TOKEN": token(settings, Role.DISTRICT_ADMIN, "auditor")}

    rc, out, err = await linli("--output", "json", "audit", "--member", member, env=env)
    assert rc == 0, err
    entries = json.loads(out)["entries"]
    assert {e["service"] for e in entries} == {"registry", "tasks", "matching"}
    assert all(member in (e.get("member_id"), e.get("actor")) for e in entries)

    rc, out, err = await linli(
        "audit", "--actor", "staff-home", "--since", "2020-01-01T00:00", env=env
    )
    assert rc == 0, err
    assert "GetMember" in out and "SuggestMembers" in out

    rc, _, err = await linli("audit", env=env)
    assert rc != 0 and "--member" in err
    staff = token(settings, Role.COMMUNITY_STAFF, "staff-home", communities=(hood.home,))
    rc, _, err = await linli("audit", "--member", member, env=env | {"LINLI_TOKEN": staff})
    assert rc != 0 and "PERMISSION_DENIED" in err
