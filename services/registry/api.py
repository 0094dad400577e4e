"""The registry's gRPC servicer: proto in, use case, proto out. Errors are mapped by the
server interceptor (services/common/interceptors.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc import aio

from linli.v1 import registry_pb2 as pb
from linli.v1 import registry_pb2_grpc
from services.common import paging, validation
from services.common.auth import current_principal
from services.common.errors import InvalidArgument, invalid
from services.common.interceptors import methods, status_code
from services.registry import convert, domain
from services.registry.org import OrgEntry
from services.registry.service import Registry

# What a member may never call: refused at the door, before the request is looked at.
STAFF_ONLY = methods(
    pb.DESCRIPTOR.services_by_name["RegistryService"],
    "ImportDistrict",
    "CreateStreet",
    "CreateCommunity",
    "CreateGrid",
    "CreateBuildingGroup",
    "CreateUnit",
    "RegisterMember",
    "ImportMembers",
    "ReactivateMember",
)

IMPORT_BATCH = 500
ORG_PARENT_FIELD = {
    "street": "",
    "community": "street_id",
    "grid": "community_id",
    "building_group": "grid_id",
    "unit": "community_id",
}
LIST_FILTERS = ("community_id", "grid_id", "skill", "status")


def member_id_arg(value: str, field: str) -> str:
    """A member id from a request, in canonical form. A value that cannot be an id is bad input
    (no member could have it); a well-formed one is looked up and, missing or not the caller's
    to see, answered NOT_FOUND the same way."""
    if not value:
        raise invalid(field, "is required")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise invalid(field, "must be a member id (a UUID)") from None


class RegistryApi(registry_pb2_grpc.RegistryServiceServicer):
    def __init__(self, registry: Registry) -> None:
        self.r = registry

    # -- organisation ------------------------------------------------------------------------

    async def ImportDistrict(
        self, request: pb.ImportDistrictRequest, context: aio.ServicerContext
    ) -> pb.ImportDistrictResponse:
        created, unchanged = await self.r.import_district(
            current_principal(), request.content, request.validate_only
        )
        return pb.ImportDistrictResponse(
            streets_created=created["street"],
            communities_created=created["community"],
            grids_created=created["grid"],
            building_groups_created=created["building_group"],
            units_created=created["unit"],
            unchanged=unchanged,
        )

    async def _create(self, entry: OrgEntry) -> Any:
        stored = await self.r.create_org(current_principal(), entry)
        created_at = (await self.r.store.org_created_at(stored.kind, [stored.id])).get(stored.id)
        return convert.org_to_proto(stored, created_at)

    async def _get(self, kind: str, entry_id: str) -> Any:
        if not entry_id:
            raise invalid("id", "is required")
        v = domain.Violations()
        domain.check_org_id(v, "id", entry_id)
        v.raise_if_any()
        entry = await self.r.store.get_org(kind, entry_id)
        created_at = (await self.r.store.org_created_at(kind, [entry_id])).get(entry_id)
        return convert.org_to_proto(entry, created_at)

    async def _list(
        self, kind: str, parent_id: str, page_size: int, token: str
    ) -> tuple[list[Any], str]:
        current_principal()
        if parent_id:
            v = domain.Violations()
            domain.check_org_id(v, ORG_PARENT_FIELD[kind], parent_id)
            v.raise_if_any()
        limit = paging.page_size(page_size)
        after = paging.decode(token, {"kind": kind, "parent": parent_id})
        rows = await self.r.store.list_org(kind, parent_id or None, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        next_token = (
            paging.encode(rows[-1][0].id, {"kind": kind, "parent": parent_id}) if more else ""
        )
        return [convert.org_to_proto(e, created) for e, created in rows], next_token

    async def CreateStreet(
        self, request: pb.CreateStreetRequest, context: aio.ServicerContext
    ) -> pb.CreateStreetResponse:
        return pb.CreateStreetResponse(
            street=await self._create(convert.street_from_proto(request.street))
        )

    async def GetStreet(
        self, request: pb.GetStreetRequest, context: aio.ServicerContext
    ) -> pb.GetStreetResponse:
        return pb.GetStreetResponse(street=await self._get("street", request.id))

    async def ListStreets(
        self, request: pb.ListStreetsRequest, context: aio.ServicerContext
    ) -> pb.ListStreetsResponse:
        items, token = await self._list("street", "", request.page_size, request.page_token)
        return pb.ListStreetsResponse(streets=items, next_page_token=token)

    async def CreateCommunity(
        self, request: pb.CreateCommunityRequest, context: aio.ServicerContext
    ) -> pb.CreateCommunityResponse:
        return pb.CreateCommunityResponse(
            community=await self._create(convert.community_from_proto(request.community))
        )

    async def GetCommunity(
        self, request: pb.GetCommunityRequest, context: aio.ServicerContext
    ) -> pb.GetCommunityResponse:
        return pb.GetCommunityResponse(community=await self._get("community", request.id))

    async def ListCommunities(
        self, request: pb.ListCommunitiesRequest, context: aio.ServicerContext
    ) -> pb.ListCommunitiesResponse:
        items, token = await self._list(
            "community", request.street_id, request.page_size, request.page_token
        )
        return pb.ListCommunitiesResponse(communities=items, next_page_token=token)

    async def CreateGrid(
        self, request: pb.CreateGridRequest, context: aio.ServicerContext
    ) -> pb.CreateGridResponse:
        return pb.CreateGridResponse(grid=await self._create(convert.grid_from_proto(request.grid)))

    async def GetGrid(
        self, request: pb.GetGridRequest, context: aio.ServicerContext
    ) -> pb.GetGridResponse:
        return pb.GetGridResponse(grid=await self._get("grid", request.id))

    async def ListGrids(
        self, request: pb.ListGridsRequest, context: aio.ServicerContext
    ) -> pb.ListGridsResponse:
        items, token = await self._list(
            "grid", request.community_id, request.page_size, request.page_token
        )
        return pb.ListGridsResponse(grids=items, next_page_token=token)

    async def CreateBuildingGroup(
        self, request: pb.CreateBuildingGroupRequest, context: aio.ServicerContext
    ) -> pb.CreateBuildingGroupResponse:
        return pb.CreateBuildingGroupResponse(
            building_group=await self._create(
                convert.building_group_from_proto(request.building_group)
            )
        )

    async def GetBuildingGroup(
        self, request: pb.GetBuildingGroupRequest, context: aio.ServicerContext
    ) -> pb.GetBuildingGroupResponse:
        return pb.GetBuildingGroupResponse(
            building_group=await self._get("building_group", request.id)
        )

    async def ListBuildingGroups(
        self, request: pb.ListBuildingGroupsRequest, context: aio.ServicerContext
    ) -> pb.ListBuildingGroupsResponse:
        items, token = await self._list(
            "building_group", request.grid_id, request.page_size, request.page_token
        )
        return pb.ListBuildingGroupsResponse(building_groups=items, next_page_token=token)

    async def CreateUnit(
        self, request: pb.CreateUnitRequest, context: aio.ServicerContext
    ) -> pb.CreateUnitResponse:
        return pb.CreateUnitResponse(unit=await self._create(convert.unit_from_proto(request.unit)))

    async def GetUnit(
        self, request: pb.GetUnitRequest, context: aio.ServicerContext
    ) -> pb.GetUnitResponse:
        return pb.GetUnitResponse(unit=await self._get("unit", request.id))

    async def ListUnits(
        self, request: pb.ListUnitsRequest, context: aio.ServicerContext
    ) -> pb.ListUnitsResponse:
        items, token = await self._list(
            "unit", request.community_id, request.page_size, request.page_token
        )
        return pb.ListUnitsResponse(units=items, next_page_token=token)

    async def ListSkills(
        self, request: pb.ListSkillsRequest, context: aio.ServicerContext
    ) -> pb.ListSkillsResponse:
        current_principal()
        return pb.ListSkillsResponse(
            skills=[
                pb.Skill(code=s.code, name_zh=s.name_zh, name_en=s.name_en, category=s.category)
                for s in sorted(domain.SKILLS, key=lambda s: s.code)
            ]
        )

    # -- members -----------------------------------------------------------------------------

    async def RegisterMember(
        self, request: pb.RegisterMemberRequest, context: aio.ServicerContext
    ) -> pb.RegisterMemberResponse:
        member, private = await self.r.register(
            current_principal(), request.request_id, convert.member_data_from_proto(request.member)
        )
        return pb.RegisterMemberResponse(member=convert.member_to_proto(member, private=private))

    async def ImportMembers(
        self, request_iterator: AsyncIterator[pb.ImportMembersRequest], context: aio.ServicerContext
    ) -> pb.ImportMembersResponse:
        principal = current_principal()
        response = pb.ImportMembersResponse()
        batch: list[tuple[int, str, domain.MemberData]] = []

        async def flush() -> None:
            for result in await self.r.register_batch(principal, batch):
                if result.error is not None:
                    row = pb.ImportMembersRowError(
                        index=result.index,
                        request_id=batch_ids[result.index],
                        message=str(result.error),
                        code=status_code(result.error).value[0],
                    )
                    if isinstance(result.error, InvalidArgument):
                        row.field_violations.extend(
                            f"{v.field}: {v.description}" for v in result.error.violations
                        )
                    response.errors.append(row)
                elif result.created:
                    response.registered += 1
                else:
                    response.already_registered += 1
            batch.clear()
            batch_ids.clear()

        batch_ids: dict[int, str] = {}
        # The whole stream is received before anything is written: a stream that breaks (an
        # undecodable row, a cancelled call) writes nothing, and a retry of it is safe.
        rows: list[pb.RegisterMemberRequest] = []
        limit = self.r.settings.import_members_max_rows
        # (A message that does not decode refuses the call at the door, before this reads it.)
        async for item in request_iterator:
            if len(rows) >= limit:
                raise invalid("row", f"at most {limit} rows in one import; split the file")
            rows.append(item.row)
        for row in rows:
            index = response.received
            response.received += 1
            # The checks every unary call gets at the door, here row by row: a bad row is
            # reported with its fields and the good ones land.
            violations = validation.check(row, "row.")
            if violations:
                response.errors.append(
                    pb.ImportMembersRowError(
                        index=index,
                        request_id="",
                        message=str(InvalidArgument(violations)),
                        code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                        field_violations=[f"{v.field}: {v.description}" for v in violations],
                    )
                )
                continue
            batch.append((index, row.request_id, convert.member_data_from_proto(row.member)))
            batch_ids[index] = row.request_id[:64]
            if len(batch) >= IMPORT_BATCH:
                await flush()
        if batch:
            await flush()
        response.errors.sort(key=lambda e: e.index)
        return response

    async def GetMember(
        self, request: pb.GetMemberRequest, context: aio.ServicerContext
    ) -> pb.GetMemberResponse:
        member_id = member_id_arg(request.id, "id")
        member, private = await self.r.get_member(current_principal(), member_id)
        return pb.GetMemberResponse(member=convert.member_to_proto(member, private=private))

    async def ListMembers(
        self, request: pb.ListMembersRequest, context: aio.ServicerContext
    ) -> pb.ListMembersResponse:
        filters = {f: getattr(request, f) for f in LIST_FILTERS}
        limit = paging.page_size(request.page_size)
        after = paging.decode_uuid(request.page_token, filters)
        active = {pb.MEMBER_STATUS_ACTIVE: True, pb.MEMBER_STATUS_DEACTIVATED: False}.get(
            request.status
        )
        rows = await self.r.list_members(
            current_principal(),
            community_id=request.community_id,
            grid_id=request.grid_id,
            skill=request.skill,
            active=active,
            after=after,
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return pb.ListMembersResponse(
            members=[convert.member_to_proto(m, private=p) for m, p in rows],
            next_page_token=paging.encode(rows[-1][0].id, filters) if more else "",
        )

    async def UpdateMember(
        self, request: pb.UpdateMemberRequest, context: aio.ServicerContext
    ) -> pb.UpdateMemberResponse:
        member_id = member_id_arg(request.member.id, "member.id")
        member, pending = await self.r.update(
            current_principal(),
            member_id,
            convert.member_data_from_proto(request.member),
            list(request.update_mask.paths),
        )
        return pb.UpdateMemberResponse(
            member=convert.member_to_proto(member), phone_change_pending=pending
        )

    async def ConfirmPhoneChange(
        self, request: pb.ConfirmPhoneChangeRequest, context: aio.ServicerContext
    ) -> pb.ConfirmPhoneChangeResponse:
        member_id = member_id_arg(request.member_id, "member_id")
        member = await self.r.confirm_phone_change(current_principal(), member_id, request.code)
        return pb.ConfirmPhoneChangeResponse(member=convert.member_to_proto(member))

    async def ReportIn(
        self, request: pb.ReportInRequest, context: aio.ServicerContext
    ) -> pb.ReportInResponse:
        member = await self.r.report_in(
            current_principal(),
            member_id_arg(request.member_id, "member_id"),
            request.community_id,
            request.grid_id,
            request.building_group_id,
        )
        return pb.ReportInResponse(member=convert.member_to_proto(member))

    async def DeactivateMember(
        self, request: pb.DeactivateMemberRequest, context: aio.ServicerContext
    ) -> pb.DeactivateMemberResponse:
        member_id = member_id_arg(request.member_id, "member_id")
        member = await self.r.deactivate(current_principal(), member_id, request.reason)
        return pb.DeactivateMemberResponse(member=convert.member_to_proto(member))

    async def ReactivateMember(
        self, request: pb.ReactivateMemberRequest, context: aio.ServicerContext
    ) -> pb.ReactivateMemberResponse:
        member_id = member_id_arg(request.member_id, "member_id")
        member = await self.r.reactivate(current_principal(), member_id)
        return pb.ReactivateMemberResponse(member=convert.member_to_proto(member))
