"""The system as its users drive it: the services run as their own processes (as `make up` runs
them), and everything goes through their gRPC APIs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from grpc import aio

from dev import gen_district
from linli.v1 import common_pb2, registry_pb2, tasks_pb2
from linli.v1.registry_pb2_grpc import RegistryServiceStub
from linli.v1.tasks_pb2_grpc import TaskServiceStub
from services.cli.district import import_district, import_members
from services.common.auth import Principal, Role, issue_token
from services.common.settings import Settings
from tests.e2e.conftest import System

pytestmark = pytest.mark.e2e


def bearer(principal: Principal) -> tuple[tuple[str, str], ...]:
    return (("authorization", "Bearer " + issue_token(Settings(), principal)),)


async def test_a_small_district_reports_in_posts_wishes_and_members_claim_them(
    system: System,
) -> None:
    district = gen_district.generate(seed=7, small=True)
    admin = bearer(Principal("e2e-admin", Role.DISTRICT_ADMIN))
    staff = bearer(
        Principal("chengli-staff", Role.COMMUNITY_STAFF, community_ids=frozenset({"chengli"}))
    )
    registry_addr = system.addresses()["registry"]
    tasks_addr = system.addresses()["tasks"]
    async with aio.insecure_channel(registry_addr) as rch, aio.insecure_channel(tasks_addr) as tch:
        registry, tasks = RegistryServiceStub(rch), TaskServiceStub(tch)
        org = await import_district(registry, admin, gen_district.yaml_text(district))
        assert org.communities_created == 5
        report = await import_members(registry, admin, district.members)
        assert (report.registered, report.errors) == (300, [])

        chengli = []
        page_token = ""
        while True:
            page = await registry.ListMembers(
                registry_pb2.ListMembersRequest(
                    community_id="chengli", page_size=100, page_token=page_token
                ),
                metadata=staff,
            )
            chengli += list(page.members)
            page_token = page.next_page_token
            if not page_token:
                break
        assert chengli and all(not m.phone_masked for m in chengli)

        start = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
        home = chengli[0].home
        posted = await tasks.PostWish(
            tasks_pb2.PostWishRequest(
                request_id="e2e-wish-1",
                wish=tasks_pb2.Wish(
                    community_id="chengli",
                    title="为独居老人修理水龙头",
                    beneficiary_group=common_pb2.BENEFICIARY_GROUP_ELDERLY,
                    location=common_pb2.LatLng(latitude=home.latitude, longitude=home.longitude),
                    address="城里社区（合成）",
                    headcount=2,
                    effort_hours=1.0,
                    skills=[tasks_pb2.RequiredSkill(skill="repair_plumbing", min_level=1)],
                    window=tasks_pb2.TimeWindow(
                        start=_ts(start), end=_ts(start + timedelta(hours=2))
                    ),
                ),
            ),
            metadata=staff,
        )
        task_id = posted.task.id

        # Members see it near their homes once the task service knows them (from events).
        member = chengli[1]
        as_member = bearer(Principal(member.id, Role.MEMBER))
        found: list[str] = []
        for _ in range(600):  # up to a minute: events travel slower on a loaded machine
            near = await tasks.SearchNearbyTasks(
                tasks_pb2.SearchNearbyTasksRequest(near=member.home, radius_m=5000),
                metadata=as_member,
            )
            found = [t.id for t in near.tasks]
            if task_id in found:
                break
            await asyncio.sleep(0.1)
        assert task_id in found

        claimed = await tasks.ClaimTask(
            tasks_pb2.ClaimTaskRequest(task_id=task_id), metadata=as_member
        )
        assert claimed.assignment.state == tasks_pb2.ASSIGNMENT_STATE_ACCEPTED
        seen = await tasks.GetTask(tasks_pb2.GetTaskRequest(id=task_id), metadata=as_member)
        assert seen.task.address == "城里社区（合成）"  # the assigned member sees where
        record = await tasks.GetMemberRecord(
            tasks_pb2.GetMemberRecordRequest(member_id=member.id), metadata=as_member
        )
        assert record.record.upcoming == 1


def _ts(when: datetime):  # type: ignore[no-untyped-def]
    from google.protobuf import timestamp_pb2

    out = timestamp_pb2.Timestamp()
    out.FromDatetime(when)
    return out
