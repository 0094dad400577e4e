"""Generated requests over every RPC of the affairs service, as for the other services
(test_fuzz.py): random and hostile fields, random bodies, each role, bad tokens; whatever a call
answers, it is never INTERNAL or UNKNOWN, and its error travels in a small trailer."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc import aio

from linli.v1 import affairs_pb2
from services.common.settings import RegistrySettings
from tests.integration.affairs_support import (
    affairs,
    affairs_clock,
    affairs_rt,
    affairs_settings,
    concern,
    log,
)
from tests.integration.tasks_support import until
from tests.integration.test_fuzz import TRAILER_LIMIT, _identities, fuzz_place, plan, send

__all__ = ["affairs", "affairs_clock", "affairs_rt", "affairs_settings", "fuzz_place"]

pytestmark = pytest.mark.integration


async def test_no_generated_request_to_the_ledger_is_internal_and_errors_stay_small(
    affairs_rt, affairs, settings: RegistrySettings, fuzz_place: dict[str, str]
) -> None:  # type: ignore[no-untyped-def]
    async def known_community() -> bool:
        return await affairs_rt.affairs.store.street_of(fuzz_place["community"]) is not None

    await until(known_community)
    identities = _identities(settings, fuzz_place)
    item = await log(
        affairs, identities["staff"], concern(fuzz_place["community"], fuzz_place["grid"])
    )
    known = sorted({*fuzz_place.values(), item.id})
    service = affairs_pb2.DESCRIPTOR.services_by_name["AffairsService"]
    calls = list(plan(service, known, identities))
    channels = {service.full_name: aio.insecure_channel(f"127.0.0.1:{affairs_rt.port}")}
    gate = asyncio.Semaphore(8)

    async def one(call):  # type: ignore[no-untyped-def]
        async with gate:
            return await send(channels, identities, call)

    try:
        outcomes = await asyncio.gather(*(one(c) for c in calls))
    finally:
        for channel in channels.values():
            await channel.close()
    broken = [o for o in outcomes if o.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)]
    assert not broken, "\n".join(o.describe() for o in broken[:10])
    assert not [o for o in outcomes if o.trailer_bytes > TRAILER_LIMIT]
    codes = {o.code for o in outcomes}
    assert {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT} <= codes
