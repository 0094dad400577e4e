"""Event handler tables (services/common/handlers.py): dispatch by payload type."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from linli.v1 import events_pb2, registry_pb2
from services.common.handlers import EventTable


def envelope(payload: Any, subject: str = "linli.x") -> events_pb2.EventEnvelope:
    env = events_pb2.EventEnvelope(id="e1", subject=subject)
    env.payload.Pack(payload)
    return env


def test_each_kind_goes_to_its_row_and_a_member_carrier_to_the_catch_all() -> None:
    calls: list[tuple[str, Any]] = []

    async def community(conn: Any, c: Any, env: Any) -> None:
        calls.append(("community", c.community.id))

    async def member(conn: Any, m: Any, env: Any) -> None:
        calls.append(("member", m.id))

    async def after(m: Any, env: Any) -> None:
        calls.append(("after", m.id))

    table = (
        EventTable()
        .on(events_pb2.CommunityCreated, apply=community)
        .carrying(registry_pb2.Member, apply=member, after=after)
    )

    async def run() -> None:
        created = events_pb2.CommunityCreated()
        created.community.id = "c1"
        await table.apply(None, envelope(created))  # type: ignore[arg-type]
        registered = events_pb2.MemberRegistered()
        registered.member.id = "m1"
        await table.apply(None, envelope(registered))  # type: ignore[arg-type]
        await table.after(envelope(registered))
        await table.after(envelope(created))  # no after for communities: nothing happens
        # A kind nobody handles is skipped, not an error.
        await table.apply(None, envelope(events_pb2.ProposalRejected()))  # type: ignore[arg-type]

    asyncio.run(run())
    assert calls == [("community", "c1"), ("member", "m1"), ("after", "m1")]
    assert table.kinds == ["linli.v1.CommunityCreated"]


def test_a_kind_cannot_have_two_rows() -> None:
    async def noop(conn: Any, p: Any, env: Any) -> None:
        return None

    with pytest.raises(ValueError):
        EventTable().on(events_pb2.CommunityCreated, apply=noop).on(
            events_pb2.CommunityCreated, apply=noop
        )
