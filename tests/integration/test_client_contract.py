"""What docs/clients.md tells a client in another language, asked of a running registry: the
request id comes back on refusals too, the rich details decode with the standard helpers, and
page tokens are bound to their filters."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc import aio
from grpc_status import rpc_status

from linli.v1 import registry_pb2, registry_pb2_grpc
from tests.integration.conftest import District

pytestmark = pytest.mark.integration

Metadata = tuple[tuple[str, str], ...]


def request_id_of(err: aio.AioRpcError) -> str | None:
    return dict(err.trailing_metadata() or ()).get("x-request-id")  # type: ignore[arg-type]


def violations(err: aio.AioRpcError) -> dict[str, str]:
    """The BadRequest, decoded as the doc says: rpc_status.from_call, then Any.Unpack."""
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    [detail] = status.details
    bad = error_details_pb2.BadRequest()
    assert detail.Unpack(bad)
    return {v.field: v.description for v in bad.field_violations}


async def test_a_call_without_a_token_is_refused_with_its_request_id(
    stub: registry_pb2_grpc.RegistryServiceStub,
) -> None:
    with pytest.raises(aio.AioRpcError) as refused:
        await stub.ListSkills(registry_pb2.ListSkillsRequest(), metadata=(("x-request-id", "r-1"),))

    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert request_id_of(refused.value) == "r-1"


async def test_a_negative_page_size_names_the_field_and_keeps_the_request_id(
    stub: registry_pb2_grpc.RegistryServiceStub, admin: Metadata
) -> None:
    with pytest.raises(aio.AioRpcError) as refused:
        await stub.ListCommunities(
            registry_pb2.ListCommunitiesRequest(page_size=-1),
            metadata=(*admin, ("x-request-id", "r-2")),
        )

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert request_id_of(refused.value) == "r-2"
    assert set(violations(refused.value)) == {"page_size"}


async def test_a_page_token_works_only_with_the_filters_it_was_issued_for(
    stub: registry_pb2_grpc.RegistryServiceStub, admin: Metadata, district: District
) -> None:
    first = await stub.ListCommunities(
        registry_pb2.ListCommunitiesRequest(street_id=district.street, page_size=1),
        metadata=admin,
    )
    assert first.next_page_token  # the street has two communities

    second = await stub.ListCommunities(
        registry_pb2.ListCommunitiesRequest(
            street_id=district.street, page_size=1, page_token=first.next_page_token
        ),
        metadata=admin,
    )
    assert [c.id for c in second.communities] != [c.id for c in first.communities]
    with pytest.raises(aio.AioRpcError) as refused:
        await stub.ListCommunities(
            registry_pb2.ListCommunitiesRequest(
                street_id=district.other_street, page_size=1, page_token=first.next_page_token
            ),
            metadata=admin,
        )

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "other filters" in violations(refused.value)["page_token"]
