"""What the stream shows to anyone who can subscribe: no phone number, home, wish address or
place in the clear, while the services themselves still read and apply every event."""

from __future__ import annotations

import asyncio
import struct

import pytest
from nats.aio.msg import Msg

from linli.v1 import events_pb2, registry_pb2, tasks_pb2
from services.common import eventbus
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from tests.conftest import Servers
from tests.integration.conftest import District
from tests.integration.events import KEYS
from tests.integration.tasks_support import make_neighbourhood, post, until, wish
from tests.support import member_proto, phone, request_id

pytestmark = pytest.mark.integration


def doubles(*values: float) -> list[bytes]:
    """How a coordinate looks inside a serialized message (a little-endian double)."""
    return [struct.pack("<d", v) for v in values]


async def test_a_raw_subscriber_sees_no_phone_home_address_or_place(
    servers: Servers,
    stub,  # type: ignore[no-untyped-def]
    task_stub,  # type: ignore[no-untyped-def]
    admin: tuple[tuple[str, str], ...],
    district: District,
    tasks_rt: ServiceRuntime,
    settings: RegistrySettings,
) -> None:
    raw: list[Msg] = []
    nc = await eventbus.connect(servers.nats_url, "eavesdropper")

    async def keep(msg: Msg) -> None:
        raw.append(msg)

    await nc.subscribe("linli.>", cb=keep)  # a plain NATS client: no consumer, no keys
    await nc.flush()
    try:
        number = phone()
        home = (36.981357, 117.171357)
        member = await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(),
                member=member_proto(
                    district.community, district.grid, lat=home[0], lng=home[1], phone_number=number
                ),
            ),
            metadata=admin,
        )
        hood = await make_neighbourhood(stub, tasks_rt, settings, members=1, outsiders=0)
        place = (36.980246, 117.170246)
        task = await post(task_stub, hood.staff, wish(hood.home, lat=place[0], lng=place[1]))

        def seen() -> list[events_pb2.EventEnvelope]:
            return [eventbus.unseal(events_pb2.EventEnvelope.FromString(m.data), KEYS) for m in raw]

        def about_member(env: events_pb2.EventEnvelope) -> bool:
            e = events_pb2.MemberRegistered()
            return env.payload.Unpack(e) and e.member.id == member.member.id

        def about_task(env: events_pb2.EventEnvelope) -> bool:
            e = events_pb2.TaskPosted()
            return env.payload.Unpack(e) and e.task.id == task.id

        async def both_seen() -> bool:
            envs = seen()
            return any(map(about_member, envs)) and any(map(about_task, envs))

        await until(both_seen, timeout=30)
        await asyncio.sleep(0.3)

        # The services read what was sent (so the secrets below were in the events) ...
        opened = b"".join(e.payload.value for e in seen())
        secrets = [number.encode(), "清华园3号院2单元401".encode(), *doubles(*home, *place)]
        assert all(s in opened for s in secrets)
        # ... and nobody without the keys can.
        leaked = [s for s in secrets for m in raw if s in m.data or s in m.subject.encode()]
        assert leaked == []
        assert all(events_pb2.EventEnvelope.FromString(m.data).key_id for m in raw)
        assert task.status == tasks_pb2.TASK_STATUS_OPEN
    finally:
        await nc.drain()
