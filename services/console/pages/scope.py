"""Which communities a page offers the signed-in user: what the registry lists, narrowed to the
user's own scope as their sign-in names it (the services decide again on every call)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from linli.v1 import registry_pb2
from services.client import pages
from services.console.session import Session
from services.console.web import Api, NotThere


@dataclass
class Scope:
    communities: list[registry_pb2.Community]
    streets: dict[str, str]
    current: registry_pb2.Community

    def names(self) -> dict[str, str]:
        return {c.id: c.name for c in self.communities}


async def communities(a: Api, s: Session) -> list[registry_pb2.Community]:
    found = await pages(
        a.stubs.registry.ListCommunities,
        registry_pb2.ListCommunitiesRequest(page_size=1000),
        "communities",
        a.md,
    )
    if s.district_wide:
        return list(found)
    if s.street_admin:
        return [c for c in found if c.street_id in s.streets]
    return [c for c in found if c.id in s.communities]


async def scope(request: Request, a: Api, s: Session) -> Scope:
    """The communities offered, and the one asked for by `?community=` (the first by default);
    one outside them is not there."""
    offered = await communities(a, s)
    if not offered:
        raise NotThere
    asked = request.query_params.get("community") or ""
    current = next((c for c in offered if c.id == asked), None) if asked else offered[0]
    if current is None:
        raise NotThere
    streets = {
        st.id: st.name
        for st in await pages(
            a.stubs.registry.ListStreets,
            registry_pb2.ListStreetsRequest(page_size=1000),
            "streets",
            a.md,
        )
    }
    return Scope(offered, streets, current)


async def grids(a: Api, community: str) -> list[registry_pb2.Grid]:
    return list(
        await pages(
            a.stubs.registry.ListGrids,
            registry_pb2.ListGridsRequest(community_id=community, page_size=1000),
            "grids",
            a.md,
        )
    )
