"""Each running service's /metrics over HTTP, parsed as Prometheus reads it: calls by method and
code, health, the outbox and consumers, the pool, matching runs and refused claims."""

from __future__ import annotations

import asyncio
import urllib.request
import uuid

import asyncpg
import grpc
import pytest
from google.protobuf import timestamp_pb2
from grpc import aio
from prometheus_client.parser import text_string_to_metric_families

from linli.v1 import matching_pb2, registry_pb2, tasks_pb2
from services.common import eventbus
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from services.registry.app import build
from tests.conftest import Servers
from tests.integration.runtime_support import eventually, new_database
from tests.integration.tasks_support import Neighbourhood, matched_neighbourhood, post, wish
from tests.integration.test_matching import posted_and_seen

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(runtime: ServiceRuntime) -> Samples:
    """The service's /metrics, fetched over HTTP and parsed: sample value by name and labels."""
    assert runtime.metrics_server is not None
    url = f"http://127.0.0.1:{runtime.metrics_server.port}/metrics"

    def fetch() -> str:
        with urllib.request.urlopen(url, timeout=10) as reply:
            assert reply.status == 200
            return str(reply.read().decode())

    text = await asyncio.to_thread(fetch)
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    return samples.get((metric, frozenset(labels.items())), 0.0)


@pytest.fixture
async def hood(stub, tasks_rt, matching_rt, settings) -> Neighbourhood:  # type: ignore[no-untyped-def]
    return await matched_neighbourhood(
        stub, tasks_rt, matching_rt, settings, members=3, outsiders=0
    )


async def test_every_service_counts_its_calls_by_method_and_the_code_the_caller_got(
    stub,  # type: ignore[no-untyped-def]
    task_stub,
    registry: ServiceRuntime,
    tasks_rt: ServiceRuntime,
    hood: Neighbourhood,
) -> None:
    handled = "linli_grpc_server_handled_total"
    before_registry, before_tasks = await scrape(registry), await scrape(tasks_rt)

    await stub.GetMember(registry_pb2.GetMemberRequest(id=hood.members[0]), metadata=hood.admin)
    with pytest.raises(aio.AioRpcError) as err:  # bad input: a domain error mapped to its code
        await stub.GetMember(registry_pb2.GetMemberRequest(id="not an id"), metadata=hood.admin)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    task = await post(task_stub, hood.staff, wish(hood.home, headcount=1, skills=()))
    first, second = hood.members[:2]
    await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(first)
    )
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.ClaimTask(
            tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(second)
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    after_registry, after_tasks = await scrape(registry), await scrape(tasks_rt)

    def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    registry_call = {"service": "registry", "grpc_method": "GetMember"}
    assert grew(before_registry, after_registry, handled, **registry_call, grpc_code="OK") == 1
    assert (
        grew(
            before_registry, after_registry, handled, **registry_call, grpc_code="INVALID_ARGUMENT"
        )
        == 1
    )
    assert (
        grew(
            before_registry,
            after_registry,
            "linli_grpc_server_handling_seconds_count",
            **registry_call,
        )
        == 2
    )
    claim = {"service": "tasks", "grpc_method": "ClaimTask"}
    assert grew(before_tasks, after_tasks, handled, **claim, grpc_code="OK") == 1
    assert grew(before_tasks, after_tasks, handled, **claim, grpc_code="FAILED_PRECONDITION") == 1
    assert grew(before_tasks, after_tasks, "linli_claims_refused_total", reason="TASK_FULL") == 1
    # Every refusal reason is a series from the start.
    refusals = {dict(labels).get("reason") for name, labels in after_tasks if "claims" in name}
    assert {"TASK_FULL", "TIME_CONFLICT", "OUT_OF_SCOPE"} <= refusals


async def test_health_the_pool_and_the_consumers_show_on_every_service(
    registry: ServiceRuntime,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,
) -> None:
    for runtime in (registry, tasks_rt, matching_rt):
        name = runtime.settings.service_name
        seen = await scrape(runtime)
        for health_name in ("", "liveness", "linli.events", *runtime.readiness_names):
            assert value(seen, "linli_health_serving", service=name, name=health_name) == 1
        max_size = runtime.settings.db_pool_max
        assert value(seen, "linli_db_pool_connections", service=name, state="max") == max_size
        in_use = value(seen, "linli_db_pool_connections", service=name, state="in_use")
        idle = value(seen, "linli_db_pool_connections", service=name, state="idle")
        assert in_use >= 0 and idle >= 0 and in_use + idle <= max_size
        assert ("linli_outbox_backlog", frozenset({("service", name)})) in seen

    for durable in ("tasks", "tasks-units"):  # every outcome a series from the start
        seen = await scrape(tasks_rt)
        for outcome in ("applied", "skipped", "failed", "set_aside"):
            labels = {"service": "tasks", "durable": durable, "outcome": outcome}
            assert ("linli_consumer_events_total", frozenset(labels.items())) in seen

    # The members of the neighbourhood were events the task service's consumer applied, and it
    # has nothing left to be delivered once they are in.
    async def caught_up() -> bool:
        seen = await scrape(tasks_rt)
        labels = {"service": "tasks", "durable": "tasks"}
        applied = value(seen, "linli_consumer_events_total", **labels, outcome="applied")
        pending = seen.get(("linli_consumer_pending", frozenset(labels.items())))
        return applied >= len(hood.members) and pending == 0

    await eventually(caught_up, "the task service's consumer applied the members' events")


async def test_the_outbox_backlog_and_its_age_show_until_the_relay_publishes_them(
    servers: Servers,
) -> None:
    url = await new_database(servers.admin_url)
    name = f"registry-probe-{uuid.uuid4().hex[:6]}"
    settings = RegistrySettings(
        service_name=name, grpc_port=0, health_check_interval_s=0.2, relay_idle_poll_s=0.2
    )
    # Another replica relays this schema's outbox: this one's relay stands by, rows wait.
    holder = await asyncpg.connect(url)
    await holder.fetchval("SELECT pg_advisory_lock(hashtext('outbox:registry'))")
    runtime = build(settings, url, servers.nats_url)
    await runtime.start()
    try:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await eventbus.Outbox("probe").add_many(
                conn,
                [("linli.probe.metrics.sampled", timestamp_pb2.Timestamp()) for _ in range(3)],
                None,
            )
            await conn.execute("UPDATE outbox SET created_at = now() - interval '10 minutes'")
        sent_before = value(await scrape(runtime), "linli_events_published_total", service=name)

        async def waiting() -> bool:
            seen = await scrape(runtime)
            return (
                value(seen, "linli_outbox_backlog", service=name) == 3
                and value(seen, "linli_outbox_oldest_unsent_seconds", service=name) >= 600
            )

        await eventually(waiting, "three rows wait, the oldest ten minutes old")
        await holder.fetchval("SELECT pg_advisory_unlock(hashtext('outbox:registry'))")

        async def relayed() -> bool:
            seen = await scrape(runtime)
            return (
                value(seen, "linli_outbox_backlog", service=name) == 0
                and value(seen, "linli_outbox_oldest_unsent_seconds", service=name) == 0
                and value(seen, "linli_events_published_total", service=name) >= sent_before + 3
            )

        await eventually(relayed, "the relay published the three rows")
    finally:
        await holder.close()
        await runtime.stop(grace=1.0)


async def test_a_matching_run_shows_its_phases_gap_places_and_status(
    task_stub,  # type: ignore[no-untyped-def]
    match_stub,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,
) -> None:
    await posted_and_seen(task_stub, matching_rt, hood, 2)
    before = await scrape(matching_rt)

    reply = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home, time_limit_s=5), metadata=hood.staff
    )
    # The same scope while a run holds it (another replica's): refused.
    store = matching_rt.matching.store  # type: ignore[attr-defined]
    from services.matching.domain.scope import Scope

    held, _ = await store.start_run(Scope("community", hood.home), hood.street, True, "auto", "x")
    try:
        with pytest.raises(aio.AioRpcError):
            await match_stub.RunMatching(
                matching_pb2.RunMatchingRequest(community_id=hood.home, dry_run=True),
                metadata=hood.staff,
            )
    finally:
        await store.fail_run(held, "test")
    after = await scrape(matching_rt)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert reply.run.state == matching_pb2.MATCH_RUN_STATE_SUCCEEDED
    assert grew("linli_matching_runs_total", status="succeeded") == 1
    assert grew("linli_matching_runs_total", status="refused") == 1
    assert grew("linli_matching_runs_total", status="failed") == 0
    for phase in ("load", "candidates", "solve", "write"):
        assert grew("linli_matching_run_phase_seconds_count", phase=phase) == 1
    assert grew("linli_matching_run_gap_count") == 1
    assert grew("linli_matching_places_filled_total") == reply.run.places_filled >= 2
