"""Every log line of a scripted story on the real services, captured and scanned: no full phone
number, no token and no exact place in any of them, and each line the JSON operators read."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from grpc import aio

from linli.v1 import registry_pb2, tasks_pb2
from services.common import logs
from services.common.auth import Role
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from tests.integration.conftest import District
from tests.integration.runtime_support import eventually
from tests.integration.tasks_support import post, wish
from tests.support import auth, member_proto, phone, request_id, token

pytestmark = pytest.mark.integration

# Places finer than a home's building: what no line may quote.
HOME = (36.98123456, 117.17123456)
WISH_PLACE = (36.98087654, 117.17076543)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every record of the services while the test runs, formatted as in production (INFO)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.formatter("story", "json"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        structlog.contextvars.clear_contextvars()


async def test_no_line_of_a_story_holds_a_phone_a_token_or_an_exact_place(
    captured: io.StringIO,
    stub,  # type: ignore[no-untyped-def]
    task_stub,
    tasks_rt: ServiceRuntime,
    settings: RegistrySettings,
    district: District,
) -> None:
    admin_token = token(settings, Role.DISTRICT_ADMIN, "story-admin")
    staff_token = token(
        settings, Role.COMMUNITY_STAFF, "story-staff", communities=(district.community,)
    )
    admin, staff = auth(admin_token), auth(staff_token)
    phones = [phone() for _ in range(3)]
    tokens = [admin_token, staff_token]

    # Members register with their phones and exact homes, and are read back in full.
    members = []
    for number in phones[:2]:
        reply = await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(),
                member=member_proto(
                    district.community,
                    district.grid,
                    lat=HOME[0],
                    lng=HOME[1],
                    phone_number=number,
                ),
            ),
            metadata=admin,
        )
        members.append(reply.member.id)
        await stub.GetMember(registry_pb2.GetMemberRequest(id=reply.member.id), metadata=admin)
    member_tokens = [token(settings, Role.MEMBER, m) for m in members]
    tokens += member_tokens

    # A phone already taken, a phone as a name, a token where the request id goes, a
    # phone as the request id, and a token that is not valid: all logged, most refused.
    refused = [
        stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(),
                member=member_proto(district.community, district.grid, phone_number=phones[0]),
            ),
            metadata=admin,
        ),
        stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(),
                member=member_proto(
                    district.community, district.grid, name=phones[2], phone_number=phones[2]
                ),
            ),
            metadata=(*admin, ("x-request-id", f"Bearer {admin_token}")),
        ),
        stub.GetMember(
            registry_pb2.GetMemberRequest(id=phones[2]),
            metadata=(*admin, ("x-request-id", phones[1])),
        ),
        stub.GetMember(
            registry_pb2.GetMemberRequest(id=members[0]),
            metadata=auth(admin_token[:-4] + "AAAA"),
        ),
    ]
    failed = 0
    for call in refused:
        try:
            await call
        except aio.AioRpcError:
            failed += 1
    assert failed >= 3

    # A wish at an exact place, claimed by a member once the task service knows them.
    store = tasks_rt.tasks.store  # type: ignore[attr-defined]

    async def known() -> bool:
        views = [await store.member_view(None, m) for m in members]
        return all(v is not None and v.reported_in for v in views)

    await eventually(known, "the task service knows the members")
    task = await post(
        task_stub,
        staff,
        wish(district.community, skills=(), lat=WISH_PLACE[0], lng=WISH_PLACE[1], headcount=2),
    )
    await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=auth(member_tokens[0])
    )
    await task_stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=staff)
    with pytest.raises(aio.AioRpcError):  # an exact place outside the district: refused
        await task_stub.PostWish(
            tasks_pb2.PostWishRequest(
                request_id=request_id(),
                wish=wish(district.community, lat=12.34567891, lng=98.76543219),
            ),
            metadata=staff,
        )

    lines = captured.getvalue().splitlines()
    assert len(lines) >= 10, "the story was logged"
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    calls = [r for r in records if r.get("grpc_method")]
    assert calls and all(r["request_id"] and r["service"] for r in calls)
    assert all({"time", "level", "event"} <= set(r) for r in records)
    text = "\n".join(lines)
    for secret in [*phones, *tokens]:
        assert secret not in text
    for place in (*HOME, *WISH_PLACE, 12.34567891, 98.76543219):
        whole, decimals = str(place).split(".")
        assert f"{whole}.{decimals[:4]}" not in text  # not even to about 10 m
