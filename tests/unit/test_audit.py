"""The audit log's pure parts: whose an event concerns, which reveals are noted, and the writer
that puts the reveals of concurrent answers in one INSERT without letting any answer go first."""

from __future__ import annotations

import asyncio
import contextvars
from pathlib import Path
from typing import Any

import pytest

from linli.v1 import events_pb2, registry_pb2, tasks_pb2
from services.common import audit
from services.common.auth import Principal, Role

STAFF = Principal("staff-1", Role.COMMUNITY_STAFF, frozenset({"c1"}))


def test_whose_finds_the_member_and_the_task_an_event_concerns() -> None:
    assert audit.whose(events_pb2.MemberUpdated(member=registry_pb2.Member(id="m1"))) == (
        "m1",
        "",
    )
    changed = events_pb2.AssignmentChanged(
        assignment=tasks_pb2.Assignment(member_id="m2", task_id="t2"), task=tasks_pb2.Task(id="t2")
    )
    assert audit.whose(changed) == ("m2", "t2")
    assert audit.whose(events_pb2.ProposalMade(member_id="m3", task_id="t3")) == ("m3", "t3")
    assert audit.whose(events_pb2.StreetCreated()) == ("", "")


def in_a_call(principal: Principal, fn: Any) -> audit.Call:
    def run() -> audit.Call:
        call = audit.begin_call(principal, "/linli.v1.RegistryService/GetMember", "req-1")
        fn()
        return call

    return contextvars.copy_context().run(run)


def test_a_reveal_is_noted_for_staff_but_not_for_the_member_themself() -> None:
    shown = in_a_call(STAFF, lambda: audit.note_reveal(member_id="m1", revealed=["phone"]))
    assert shown.reveals == [audit.Reveal("m1", "", ("phone",))]
    own = in_a_call(
        Principal("m1", Role.MEMBER), lambda: audit.note_reveal(member_id="m1", revealed=["phone"])
    )
    assert own.reveals == []
    nothing = in_a_call(STAFF, lambda: audit.note_reveal(member_id="m1", revealed=[]))
    assert nothing.reveals == []


def test_outside_a_call_nothing_is_noted() -> None:
    def run() -> audit.Call | None:
        audit.note_reveal(member_id="m1", revealed=["phone"])
        return audit.current_call()

    assert contextvars.Context().run(run) is None


class SlowDb:
    """Stands in for the pool: each execute waits to be let through, then keeps its rows."""

    def __init__(self, fail: bool = False) -> None:
        self.statements: list[list[str]] = []
        self.gate = asyncio.Event()
        self.fail = fail

    async def execute(self, sql: str, *args: Any) -> None:
        await self.gate.wait()
        if self.fail:
            raise ConnectionResetError("the database went away")
        self.statements.append(list(args[2]))  # the member ids of the rows


def call_for(member_id: str) -> audit.Call:
    call = audit.Call(STAFF, "/m", "r")
    call.reveals.append(audit.Reveal(member_id, "", ("phone",)))
    return call


async def test_reveals_of_concurrent_answers_go_in_one_insert_each_waiting_for_its_rows() -> None:
    db = SlowDb()
    writer = audit.RevealWriter(db)  # type: ignore[arg-type]
    first = asyncio.create_task(writer.write(call_for("m0")))
    await asyncio.sleep(0)  # the first call's insert is under way
    rest = [asyncio.create_task(writer.write(call_for(f"m{i}"))) for i in range(1, 6)]
    await asyncio.sleep(0)
    assert not any(t.done() for t in [first, *rest])  # nobody answers before the commit
    db.gate.set()
    await asyncio.gather(first, *rest)
    assert db.statements == [["m0"], ["m1", "m2", "m3", "m4", "m5"]]


async def test_a_failed_insert_fails_every_answer_waiting_on_it() -> None:
    db = SlowDb(fail=True)
    writer = audit.RevealWriter(db)  # type: ignore[arg-type]
    calls = [asyncio.create_task(writer.write(call_for(f"m{i}"))) for i in range(3)]
    await asyncio.sleep(0)
    db.gate.set()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)


async def test_a_caller_gone_mid_write_does_not_cut_off_the_others_rows() -> None:
    db = SlowDb()
    writer = audit.RevealWriter(db)  # type: ignore[arg-type]
    leader = asyncio.create_task(writer.write(call_for("m0")))
    await asyncio.sleep(0)
    follower = asyncio.create_task(writer.write(call_for("m1")))
    await asyncio.sleep(0)
    leader.cancel()
    db.gate.set()
    await follower
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert ["m0"] in db.statements and ["m1"] in db.statements


def test_the_audit_table_is_one_migration_of_the_runtime_every_service_applies() -> None:
    # The runtime serves the log and the outbox writes to it in every service: it comes with the
    # event bus's own migrations, which every service's schema gets first.
    from services.common.migrations import discover
    from services.common.service_list import SERVICES

    common = Path(audit.__file__).parent / "migrations"
    [found] = sorted(common.glob("*_audit.sql"))
    text = found.read_text(encoding="utf-8")
    assert "CREATE TABLE audit_entry" in text and "BEFORE UPDATE OR DELETE" in text
    for spec in SERVICES:
        assert not list(spec.migrations.glob("*_audit.sql")), spec.name
    assert found in [m.path for m in discover(common)]
