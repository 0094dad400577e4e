"""The event bus against real PostgreSQL and NATS: outbox, relay, idempotent consumer, and
NATS going away mid-way. Each test works in a schema and (where it stops NATS) a server of its own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NatsClient

from dev.localinfra import NatsServer, PostgresServer
from linli.v1 import common_pb2, events_pb2
from services.common import eventbus, migrations
from services.common.db import create_pool
from services.common.settings import Settings
from tests.conftest import ROOT, Servers
from tests.integration.events import KEYS, read_events
from tests.support import ref

pytestmark = pytest.mark.integration

STREAM = "LINLI"


@pytest.fixture
def schema_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "probe" / "migrations"
    folder.mkdir(parents=True)
    (folder / "0001_applied.sql").write_text(
        # `n` records the order of application: rows inserted by different connections (the
        # consumer's pool) do not come back in insertion order without an ORDER BY.
        "CREATE TABLE applied (n bigserial, event_id uuid NOT NULL, street_id text NOT NULL);\n"
        "CREATE TABLE tally (n integer NOT NULL); INSERT INTO tally VALUES (0);\n"
    )
    return folder


@pytest.fixture
async def schema(servers: Servers, schema_dir: Path) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    name = ref("probe").replace("-", "_")
    pool = await create_pool(Settings(service_name="probe"), servers.database_url, name)
    async with pool.acquire() as conn:
        await migrations.apply(conn, name, schema_dir)
    yield name, pool
    await pool.close()


def street_event(street_id: str) -> events_pb2.StreetCreated:
    return events_pb2.StreetCreated(street={"id": street_id, "name": "测试"})


async def write_events(pool: asyncpg.Pool, subject: str, ids: list[str]) -> None:
    outbox = eventbus.Outbox("probe")
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add_many(conn, [(subject, street_event(i)) for i in ids], None)


APPLIED_IN_ORDER = "SELECT street_id FROM applied ORDER BY n"


async def until(predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def apply_street(conn: asyncpg.Connection, env: events_pb2.EventEnvelope) -> None:
    """A handler that is not idempotent by itself: only the inbox keeps it from counting twice."""
    event = events_pb2.StreetCreated()
    env.payload.Unpack(event)
    await conn.execute(
        "INSERT INTO applied (event_id, street_id) VALUES ($1, $2)", env.id, event.street.id
    )
    await conn.execute("UPDATE tally SET n = n + 1")


@contextlib.asynccontextmanager
async def running(*loops: eventbus.OutboxRelay | eventbus.Consumer) -> AsyncIterator[None]:
    tasks = [asyncio.ensure_future(loop.run()) for loop in loops]
    try:
        yield
    finally:
        for loop in loops:
            loop.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


async def connect(url: str) -> NatsClient:
    return await eventbus.connect(url, "test")


async def test_an_outbox_row_is_written_only_inside_the_transaction_of_the_change(
    schema: tuple[str, asyncpg.Pool],
) -> None:
    _, pool = schema
    outbox = eventbus.Outbox("probe")
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            await outbox.add(conn, "linli.probe.street.created", street_event("x"), None)
        with contextlib.suppress(ZeroDivisionError):
            async with conn.transaction():
                await outbox.add(conn, "linli.probe.street.created", street_event("x"), None)
                raise ZeroDivisionError  # the change fails: its event must vanish with it
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0


async def test_events_written_while_the_relay_is_stopped_arrive_after_it_starts(
    servers: Servers, schema: tuple[str, asyncpg.Pool]
) -> None:
    name, pool = schema
    subject = f"linli.{name}.street.created"
    nc = await connect(servers.nats_url)
    js = nc.jetstream()
    await eventbus.ensure_stream(js, STREAM)
    ids = [ref("s") for _ in range(3)]

    await write_events(pool, subject, ids)
    await asyncio.sleep(0.3)
    assert await read_events(js, subject) == []  # nothing publishes without the relay

    relay = eventbus.OutboxRelay(pool, js, schema=name, keys=KEYS)
    async with running(relay):
        await until(lambda: _count(pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL", 0))

    envs = await read_events(js, subject)
    assert [_street(e) for e in envs] == ids  # in order, once each
    await nc.drain()


async def test_nats_stopped_and_restarted_mid_way_loses_nothing_and_applies_nothing_twice(
    schema: tuple[str, asyncpg.Pool], tmp_path: Path
) -> None:
    name, pool = schema
    subject = f"linli.{name}.street.created"
    server = NatsServer.start(ROOT / ".linli" / f"nats-{name}")
    nc = await connect(server.url)
    js = nc.jetstream()
    await eventbus.ensure_stream(js, STREAM)
    relay = eventbus.OutboxRelay(pool, js, schema=name, keys=KEYS, idle_poll_s=0.2)
    consumer = eventbus.Consumer(
        pool,
        js,
        stream=STREAM,
        durable=f"{name}-probe",
        subjects=[subject],
        handler=apply_street,
        keys=KEYS,
    )
    ids = [ref("s") for _ in range(200)]
    try:
        async with running(relay, consumer):
            for chunk in range(0, 100, 10):
                await write_events(pool, subject, ids[chunk : chunk + 10])
            await until(lambda: _count(pool, "SELECT n FROM tally", 100))

            server.stop()
            for chunk in range(100, 200, 10):  # the service keeps working while NATS is away
                await write_events(pool, subject, ids[chunk : chunk + 10])
            await asyncio.sleep(1.0)
            assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") > 0

            server.resume()
            await until(lambda: _count(pool, "SELECT n FROM tally", 200), timeout=30)
            await asyncio.sleep(0.5)  # room for any duplicate to show itself

        assert await pool.fetchval("SELECT n FROM tally") == 200
        assert await pool.fetchval("SELECT count(DISTINCT event_id) FROM applied") == 200
        assert [
            r["street_id"] for r in await pool.fetch(APPLIED_IN_ORDER)
        ] == ids  # and in the order they were written
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
        server.stop()


async def test_a_redelivered_event_changes_nothing(
    servers: Servers, schema: tuple[str, asyncpg.Pool]
) -> None:
    name, pool = schema
    subject = f"linli.{name}.street.created"
    nc = await nats.connect(servers.nats_url)
    js = nc.jetstream()
    await eventbus.ensure_stream(js, STREAM)
    env = eventbus.envelope(source="probe", subj=subject, payload=street_event("once"), actor=None)
    eventbus.seal(env, KEYS)
    # The same event twice under different message ids: JetStream's de-duplication cannot help,
    # so only the consumer's inbox stands between the event and a double count.
    for msg_id in ("a", "b"):
        await js.publish(subject, env.SerializeToString(), headers={"Nats-Msg-Id": name + msg_id})
    consumer = eventbus.Consumer(
        pool,
        js,
        stream=STREAM,
        durable=f"{name}-probe",
        subjects=[subject],
        handler=apply_street,
        keys=KEYS,
    )

    async with running(consumer):
        await until(lambda: _value(consumer.applied + consumer.skipped, 2))

    assert (consumer.applied, consumer.skipped) == (1, 1)
    assert await pool.fetchval("SELECT n FROM tally") == 1
    await nc.drain()


async def test_a_failing_handler_commits_nothing_and_the_event_comes_again(
    servers: Servers, schema: tuple[str, asyncpg.Pool]
) -> None:
    name, pool = schema
    subject = f"linli.{name}.street.created"
    nc = await connect(servers.nats_url)
    js = nc.jetstream()
    await eventbus.ensure_stream(js, STREAM)
    failures = [1]

    async def flaky(conn: asyncpg.Connection, env: events_pb2.EventEnvelope) -> None:
        await apply_street(conn, env)
        if failures:
            failures.pop()
            raise RuntimeError("the handler fails once, after writing")

    await write_events(pool, subject, ["flaky"])
    relay = eventbus.OutboxRelay(pool, js, schema=name, keys=KEYS)
    consumer = eventbus.Consumer(
        pool,
        js,
        stream=STREAM,
        durable=f"{name}-probe",
        subjects=[subject],
        handler=flaky,
        keys=KEYS,
    )
    async with running(relay, consumer):
        await until(lambda: _value(consumer.applied, 1))

    assert await pool.fetchval("SELECT n FROM tally") == 1
    await nc.drain()


async def test_the_envelope_names_type_source_actor_and_subject(servers: Servers) -> None:
    from services.common.auth import Principal, Role

    env = eventbus.envelope(
        source="registry",
        subj="linli.registry.street.created",
        payload=street_event("x"),
        actor=Principal("a", Role.STREET_ADMIN, street_ids=frozenset({"s"})),
    )
    assert env.type == "linli.v1.StreetCreated"
    assert env.actor.role == common_pb2.ROLE_STREET_ADMIN and list(env.actor.street_ids) == ["s"]
    assert env.time.seconds > 0 and len(env.id) == 36


async def test_migrations_apply_once_even_when_two_processes_race(
    servers: Servers, schema_dir: Path
) -> None:
    name = ref("mig").replace("-", "_")
    conns = [await asyncpg.connect(servers.database_url) for _ in range(2)]
    try:
        results = await asyncio.gather(*(migrations.apply(c, name, schema_dir) for c in conns))
        event_bus = len(migrations.discover(migrations.EVENT_BUS))
        assert sorted(len(r) for r in results) == [0, event_bus + 1]  # + the folder's one file
        assert await migrations.apply(conns[0], name, schema_dir) == []

        (schema_dir / "0001_applied.sql").write_text("-- edited after it was applied\n")
        with pytest.raises(migrations.MigrationError):
            await migrations.apply(conns[0], name, schema_dir)
    finally:
        for c in conns:
            await c.close()


async def _count(pool: asyncpg.Pool, sql: str, expected: int) -> bool:
    return bool(await pool.fetchval(sql) == expected)


async def _value(actual: int, expected: int) -> bool:
    return actual == expected


def _street(env: events_pb2.EventEnvelope) -> str:
    event = events_pb2.StreetCreated()
    env.payload.Unpack(event)
    return event.street.id


async def test_nats_restarted_without_its_data_gets_its_stream_back_and_nothing_is_lost(
    schema: tuple[str, asyncpg.Pool],
) -> None:
    name, pool = schema
    subject = f"linli.{name}.street.created"
    store = ROOT / ".linli" / f"nats-empty-{name}"
    server = NatsServer.start(store)
    nc = await connect(server.url)
    js = nc.jetstream()
    await eventbus.ensure_stream(js, STREAM)
    relay = eventbus.OutboxRelay(pool, js, schema=name, keys=KEYS, idle_poll_s=0.2)
    try:
        async with running(relay):
            await write_events(pool, subject, ["before"])
            await until(
                lambda: _count(pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL", 0)
            )
            server.stop()
            shutil.rmtree(server.store_dir)  # the volume is gone: a new, empty server
            server.resume()
            await write_events(pool, subject, ["after"])
            await until(
                lambda: _count(pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL", 0),
                timeout=30,
            )
        # The event sent before the loss is published again, ahead of the later one.
        assert [_street(e) for e in await read_events(js, subject)] == ["before", "after"]
        assert relay.republished == 1
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
        server.stop()


async def test_an_idle_relay_does_not_pile_up_tasks(
    servers: Servers, schema: tuple[str, asyncpg.Pool]
) -> None:
    name, pool = schema
    nc = await connect(servers.nats_url)
    relay = eventbus.OutboxRelay(pool, nc.jetstream(), schema=name, keys=KEYS, idle_poll_s=0.02)
    async with running(relay):
        await asyncio.sleep(0.3)
        before = len(asyncio.all_tasks())
        await asyncio.sleep(1.0)  # some fifty idle polls
        after = len(asyncio.all_tasks())
    assert after <= before + 2
    await nc.drain()


async def test_only_one_relay_per_schema_publishes(
    servers: Servers, schema: tuple[str, asyncpg.Pool]
) -> None:
    name, pool = schema
    subject = f"linli.{name}.street.created"
    nc = await connect(servers.nats_url)
    js = nc.jetstream()
    await eventbus.ensure_stream(js, STREAM)
    relays = [
        eventbus.OutboxRelay(pool, js, schema=name, keys=KEYS, idle_poll_s=0.05) for _ in range(3)
    ]
    ids = [ref("s") for _ in range(60)]
    async with running(*relays):
        for chunk in range(0, 60, 6):
            await write_events(pool, subject, ids[chunk : chunk + 6])
        await until(lambda: _count(pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL", 0))
        assert sum(r.leader for r in relays) == 1
    assert [_street(e) for e in await read_events(js, subject)] == ids
    await nc.drain()


# -- faults: the relay and the consumer outlive their database connections -------------------------


async def _lock_holder(pool: asyncpg.Pool, name: str) -> int | None:
    """The backend holding the relay's advisory lock for schema `name` (None when nobody does)."""
    pid = await pool.fetchval(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND objid::text::bigint = (hashtext($1)::bigint & 4294967295)",
        f"outbox:{name}",
    )
    return int(pid) if pid is not None else None


async def _retrying(action, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """Run `action` until it succeeds (the database may still be coming back)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await action()
            return
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_the_relay_takes_its_lock_again_when_its_listener_backend_is_terminated(
    servers: Servers, schema: tuple[str, asyncpg.Pool]
) -> None:
    name, pool = schema
    subject = f"linli.{name}.street.created"
    nc = await connect(servers.nats_url)
    js = nc.jetstream()
    await eventbus.ensure_stream(js, STREAM)
    relay = eventbus.OutboxRelay(pool, js, schema=name, keys=KEYS, idle_poll_s=0.2)
    async with running(relay):
        await write_events(pool, subject, ["before"])
        await until(lambda: _count(pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL", 0))
        first = await _lock_holder(pool, name)
        assert first is not None

        assert await pool.fetchval("SELECT pg_terminate_backend($1)", first)

        async def relocked() -> bool:
            holder = await _lock_holder(pool, name)
            return holder is not None and holder != first

        await until(relocked, timeout=30)
        await _retrying(lambda: write_events(pool, subject, ["after"]))
        await until(
            lambda: _count(pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL", 0),
            timeout=30,
        )
        assert relay.leader
    assert [_street(e) for e in await read_events(js, subject)] == ["before", "after"]
    await nc.drain()


async def test_the_relay_keeps_publishing_after_postgresql_restarts(
    servers: Servers, schema_dir: Path
) -> None:
    name = ref("probe").replace("-", "_")
    subject = f"linli.{name}.street.created"
    root = ROOT / ".linli" / f"pg-{name}"
    pg = PostgresServer.start(root)
    pool = await create_pool(Settings(service_name="probe"), pg.url, name)
    nc = await connect(servers.nats_url)
    js = nc.jetstream()
    await eventbus.ensure_stream(js, STREAM)
    try:
        async with pool.acquire() as conn:
            await migrations.apply(conn, name, schema_dir)
        relay = eventbus.OutboxRelay(pool, js, schema=name, keys=KEYS, idle_poll_s=0.2)
        async with running(relay):
            await write_events(pool, subject, ["before"])
            await until(
                lambda: _count(pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL", 0)
            )
            pg.stop()
            await asyncio.sleep(1.0)  # the relay meets the database gone, more than once
            pg = PostgresServer.start(root, port=pg.port)
            await _retrying(lambda: write_events(pool, subject, ["after"]))

            async def published() -> bool:
                try:
                    return await _count(
                        pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL", 0
                    )
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    return False

            await until(published, timeout=30)
            assert relay.leader
        assert [_street(e) for e in await read_events(js, subject)] == ["before", "after"]
    finally:
        await pool.close()
        with contextlib.suppress(Exception):
            await nc.drain()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_an_event_whose_database_connection_dies_is_retried_not_set_aside(
    servers: Servers, schema: tuple[str, asyncpg.Pool]
) -> None:
    name, pool = schema
    subject = f"linli.{name}.street.created"
    nc = await connect(servers.nats_url)
    js = nc.jetstream()
    await eventbus.ensure_stream(js, STREAM)
    kills = [1, 2, 3]  # more deaths than max_deliver allows handler failures

    async def dies_mid_event(conn: asyncpg.Connection, env: events_pb2.EventEnvelope) -> None:
        await apply_street(conn, env)
        if kills:
            kills.pop()
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    await write_events(pool, subject, ["survivor"])
    relay = eventbus.OutboxRelay(pool, js, schema=name, keys=KEYS)
    consumer = eventbus.Consumer(
        pool,
        js,
        stream=STREAM,
        durable=f"{name}-probe",
        subjects=[subject],
        handler=dies_mid_event,
        keys=KEYS,
        max_deliver=2,
    )
    async with running(relay, consumer):
        await until(lambda: _value(consumer.applied, 1), timeout=60)

    assert not kills and consumer.dropped == 0
    assert await pool.fetchval("SELECT n FROM tally") == 1
    await nc.drain()


async def test_events_arriving_while_postgresql_is_down_are_applied_once_it_is_back(
    servers: Servers, schema_dir: Path
) -> None:
    name = ref("probe").replace("-", "_")
    subject = f"linli.{name}.street.created"
    root = ROOT / ".linli" / f"pg-{name}"
    pg = PostgresServer.start(root)
    pool = await create_pool(Settings(service_name="probe"), pg.url, name)
    nc = await connect(servers.nats_url)
    js = nc.jetstream()
    await eventbus.ensure_stream(js, STREAM)
    try:
        async with pool.acquire() as conn:
            await migrations.apply(conn, name, schema_dir)
        consumer = eventbus.Consumer(
            pool,
            js,
            stream=STREAM,
            durable=f"{name}-probe",
            subjects=[subject],
            handler=apply_street,
            keys=KEYS,
            max_deliver=2,
        )
        async with running(consumer):
            pg.stop()
            ids = [ref("s") for _ in range(3)]
            for street_id in ids:
                env = eventbus.envelope(
                    source="probe", subj=subject, payload=street_event(street_id), actor=None
                )
                eventbus.seal(env, KEYS)
                await js.publish(subject, env.SerializeToString(), headers={"Nats-Msg-Id": env.id})
            await asyncio.sleep(4.0)  # several deliveries meet the database gone
            pg = PostgresServer.start(root, port=pg.port)

            async def applied() -> bool:
                try:
                    return await _count(pool, "SELECT n FROM tally", 3)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    return False

            await until(applied, timeout=60)
        assert consumer.dropped == 0
        assert [r["street_id"] for r in await pool.fetch(APPLIED_IN_ORDER)] == ids
    finally:
        await pool.close()
        with contextlib.suppress(Exception):
            await nc.drain()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


# -- faults: NATS loses its data while a consumer lags ---------------------------------------------


async def test_a_lagging_consumer_gets_every_event_once_after_nats_loses_its_data(
    schema: tuple[str, asyncpg.Pool],
) -> None:
    name, pool = schema
    subject = f"linli.{name}.street.created"
    server = NatsServer.start(ROOT / ".linli" / f"nats-wipe-{name}")
    nc = await connect(server.url)
    js = nc.jetstream()
    await eventbus.ensure_stream(js, STREAM)
    relay = eventbus.OutboxRelay(pool, js, schema=name, keys=KEYS, idle_poll_s=0.2)

    def consumer() -> eventbus.Consumer:
        return eventbus.Consumer(
            pool,
            js,
            stream=STREAM,
            durable=f"{name}-probe",
            subjects=[subject],
            handler=apply_street,
            keys=KEYS,
        )

    ids = [ref("s") for _ in range(120)]
    unsent = "SELECT count(*) FROM outbox WHERE sent_at IS NULL"
    try:
        async with running(relay):
            await write_events(pool, subject, ids[:30])
            async with running(consumer()):  # it reads the first 30, then stops
                await until(lambda: _count(pool, "SELECT n FROM tally", 30))
            for chunk in range(30, 100, 10):  # published while the consumer is away
                await write_events(pool, subject, ids[chunk : chunk + 10])
            await until(lambda: _count(pool, unsent, 0))

            server.stop()
            shutil.rmtree(server.store_dir)  # the volume is gone: the stream and the consumer too
            server.resume()
            await write_events(pool, subject, ids[100:])

            async with running(consumer()):
                await until(lambda: _count(pool, "SELECT n FROM tally", 120), timeout=60)
                await asyncio.sleep(0.5)  # room for any duplicate to show itself

        assert relay.republished >= 100
        assert await pool.fetchval("SELECT n FROM tally") == 120
        assert [r["street_id"] for r in await pool.fetch(APPLIED_IN_ORDER)] == ids
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
        server.stop()
        shutil.rmtree(server.store_dir.parent, ignore_errors=True)


async def test_a_running_consumer_finds_its_way_back_after_nats_loses_its_data(
    schema: tuple[str, asyncpg.Pool],
) -> None:
    name, pool = schema
    subject = f"linli.{name}.street.created"
    server = NatsServer.start(ROOT / ".linli" / f"nats-wipe-{name}")
    nc = await connect(server.url)
    js = nc.jetstream()
    await eventbus.ensure_stream(js, STREAM)
    relay = eventbus.OutboxRelay(pool, js, schema=name, keys=KEYS, idle_poll_s=0.2)
    consumer = eventbus.Consumer(
        pool,
        js,
        stream=STREAM,
        durable=f"{name}-probe",
        subjects=[subject],
        handler=apply_street,
        keys=KEYS,
        check_consumer_s=0.5,
    )
    ids = [ref("s") for _ in range(20)]
    try:
        async with running(relay, consumer):
            await write_events(pool, subject, ids[:10])
            await until(lambda: _count(pool, "SELECT n FROM tally", 10))
            server.stop()
            shutil.rmtree(server.store_dir)
            server.resume()
            await write_events(pool, subject, ids[10:])
            await until(lambda: _count(pool, "SELECT n FROM tally", 20), timeout=60)
            await asyncio.sleep(0.5)
        assert consumer.skipped >= 10  # the first ten came again and changed nothing
        assert await pool.fetchval("SELECT n FROM tally") == 20
        assert [r["street_id"] for r in await pool.fetch(APPLIED_IN_ORDER)] == ids
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
        server.stop()
        shutil.rmtree(server.store_dir.parent, ignore_errors=True)


# -- sealed payloads -------------------------------------------------------------------------------


async def test_a_tampered_or_unsealed_message_is_set_aside_and_the_next_one_applied(
    servers: Servers, schema: tuple[str, asyncpg.Pool]
) -> None:
    name, pool = schema
    subject = f"linli.{name}.street.created"
    nc = await connect(servers.nats_url)
    js = nc.jetstream()
    await eventbus.ensure_stream(js, STREAM)

    def sealed(street_id: str) -> events_pb2.EventEnvelope:
        env = eventbus.envelope(
            source="probe", subj=subject, payload=street_event(street_id), actor=None
        )
        return eventbus.seal(env, KEYS)

    moved = sealed("moved")
    moved.subject = f"linli.{name}.street.renamed"  # a sealed payload moved to another subject
    flipped = sealed("flipped")
    flipped.sealed_payload = flipped.sealed_payload[:-1] + bytes([flipped.sealed_payload[-1] ^ 1])
    clear = eventbus.envelope(
        source="probe", subj=subject, payload=street_event("clear"), actor=None
    )
    for env in (moved, flipped, clear, sealed("good")):
        await js.publish(subject, env.SerializeToString(), headers={"Nats-Msg-Id": env.id})
    consumer = eventbus.Consumer(
        pool,
        js,
        stream=STREAM,
        durable=f"{name}-probe",
        subjects=[subject],
        handler=apply_street,
        keys=KEYS,
    )
    async with running(consumer):
        await until(lambda: _value(consumer.applied, 1))
        await until(lambda: _value(consumer.unreadable, 3))

    assert [r["street_id"] for r in await pool.fetch(APPLIED_IN_ORDER)] == ["good"]
    await nc.drain()


async def test_events_sealed_before_a_key_rotation_are_still_applied_after_it(
    servers: Servers, schema: tuple[str, asyncpg.Pool]
) -> None:
    name, pool = schema
    subject = f"linli.{name}.street.created"
    nc = await connect(servers.nats_url)
    js = nc.jetstream()
    await eventbus.ensure_stream(js, STREAM)
    k1, k2 = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    before = eventbus.KeyRing.parse(f"k1:{k1}", "k1")
    after = eventbus.KeyRing.parse(f"k1:{k1},k2:{k2}", "k2")

    await write_events(pool, subject, ["old-key"])
    async with running(eventbus.OutboxRelay(pool, js, schema=name, keys=before)):
        await until(lambda: _count(pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL", 0))
    await write_events(pool, subject, ["new-key"])
    consumer = eventbus.Consumer(
        pool,
        js,
        stream=STREAM,
        durable=f"{name}-probe",
        subjects=[subject],
        handler=apply_street,
        keys=after,
    )
    async with running(eventbus.OutboxRelay(pool, js, schema=name, keys=after), consumer):
        await until(lambda: _value(consumer.applied, 2))

    assert [r["street_id"] for r in await pool.fetch(APPLIED_IN_ORDER)] == [
        "old-key",
        "new-key",
    ]
    await nc.drain()
