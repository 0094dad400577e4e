"""The whole synthetic district (4,628 members) through the registry's API, in a database of its
own: the organisation file, then every member through the bulk stream."""

from __future__ import annotations

import uuid
from collections import Counter
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
import pytest
from grpc import aio

from dev import gen_district
from linli.v1 import registry_pb2
from linli.v1.registry_pb2_grpc import RegistryServiceStub
from services.cli.district import import_district, import_members
from services.common.auth import Role
from services.common.settings import RegistrySettings
from services.registry.app import build
from tests.conftest import Servers
from tests.integration.errors import bad_request_fields
from tests.support import auth, token

pytestmark = pytest.mark.integration


async def fresh_database(admin_url: str) -> str:
    name = f"linli_district_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))


async def test_the_whole_district_loads_through_the_api(servers: Servers) -> None:
    settings = RegistrySettings(grpc_port=0)
    runtime = build(settings, await fresh_database(servers.admin_url), servers.nats_url)
    await runtime.start()
    md = auth(token(settings, Role.DISTRICT_ADMIN))
    district = gen_district.generate(seed=2018)
    try:
        async with aio.insecure_channel(f"127.0.0.1:{runtime.port}") as channel:
            stub = RegistryServiceStub(channel)
            org = await import_district(stub, md, gen_district.yaml_text(district))
            assert (
                org.streets_created,
                org.communities_created,
                org.grids_created,
                org.building_groups_created,
                org.units_created,
            ) == (2, 16, 123, 510, 148)
            again = await import_district(stub, md, gen_district.yaml_text(district))
            assert again.unchanged == 2 + 16 + 123 + 510 + 148

            report = await import_members(stub, md, district.members)

            assert (report.received, report.registered, report.errors) == (4628, 4628, [])
            per_community = Counter(m["community_id"] for m in district.members)
            for community, expected in per_community.items():
                listed = 0
                page_token = ""
                while True:
                    page = await stub.ListMembers(
                        registry_pb2.ListMembersRequest(
                            community_id=community, page_size=1000, page_token=page_token
                        ),
                        metadata=md,
                    )
                    listed += len(page.members)
                    assert all(m.HasField("reported_in_time") for m in page.members)
                    page_token = page.next_page_token
                    if not page_token:
                        break
                assert listed == expected
        outbox = await runtime.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE subject = 'linli.registry.member.registered'"
        )
        assert outbox == 4628
    finally:
        await runtime.stop(grace=1)


async def test_a_bad_district_file_names_the_line_and_loads_nothing(servers: Servers) -> None:
    settings = RegistrySettings(grpc_port=0)
    runtime = build(settings, await fresh_database(servers.admin_url), servers.nats_url)
    await runtime.start()
    md = auth(token(settings, Role.DISTRICT_ADMIN))
    text = gen_district.yaml_text(gen_district.generate(seed=2018, small=True))
    lines = text.splitlines()
    bad_line = next(i for i, line in enumerate(lines) if "radius_m:" in line)
    lines[bad_line] = lines[bad_line].split(":")[0] + ": -5"
    try:
        async with aio.insecure_channel(f"127.0.0.1:{runtime.port}") as channel:
            stub = RegistryServiceStub(channel)
            with pytest.raises(aio.AioRpcError) as err:
                await import_district(stub, md, "\n".join(lines))
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            fields = bad_request_fields(err.value)
            assert any(f.endswith("grid.radius_m") for f in fields), fields
            streets = await stub.ListStreets(registry_pb2.ListStreetsRequest(), metadata=md)
            assert list(streets.streets) == []

            staff = auth(token(settings, Role.COMMUNITY_STAFF, communities=("binhu",)))
            with pytest.raises(aio.AioRpcError) as err:
                await import_district(stub, staff, text)
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await runtime.stop(grace=1)
