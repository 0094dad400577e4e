"""The registry's gRPC servicer: proto in, use case, proto out. Errors are mapped by the
server interceptor (services/common/interceptors.py).

The organisation's Create/Get/List calls are made from one table of its five kinds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from grpc import aio

from linli.v1 import registry_pb2 as pb
from linli.v1 import registry_pb2_grpc
from services.common import audit_api, paging, validation
from services.common.auth import current_principal
from services.common.errors import InvalidArgument, invalid
from services.common.interceptors import methods, status_code
from services.common.protoconv import export_part, ts
from services.common.skills import SKILLS
from services.common.subjects import REGISTRY
from services.registry import convert
from services.registry.api_qualifications import QualificationApi
from services.registry.convert import member_id_arg
from services.registry.domain.member import MemberData
from services.registry.domain.org import PARENT_FIELD, OrgEntry
from services.registry.service import Registry

# What a member may never call: refused at the door, before the request is looked at.
STAFF_ONLY = audit_api.STAFF_ONLY | methods(
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
    "AcceptReportIn",
    "RefuseReportIn",
    "VerifySkill",
    "WithdrawSkillVerification",
)

IMPORT_BATCH = 500
LIST_FILTERS = ("community_id", "grid_id", "skill", "status", "report_in_state")


@dataclass(frozen=True)
class OrgKind:
    """One kind of organisation entry as its RPCs see it. A Create or Get message carries one
    entry in the field named as the kind, a List response the page in `list_field`; the RPCs are
    named as their responses (`CreateStreetResponse` answers `CreateStreet`)."""

    kind: str
    list_field: str
    from_proto: Callable[[Any], OrgEntry]
    create_response: type[Any]
    get_response: type[Any]
    list_response: type[Any]

    @property
    def parent_field(self) -> str:
        return PARENT_FIELD[self.kind]


STREET, COMMUNITY, GRID, BUILDING_GROUP, UNIT = ORG_KINDS = (
    OrgKind(
        "street",
        "streets",
        convert.street_from_proto,
        pb.CreateStreetResponse,
        pb.GetStreetResponse,
        pb.ListStreetsResponse,
    ),
    OrgKind(
        "community",
        "communities",
        convert.community_from_proto,
        pb.CreateCommunityResponse,
        pb.GetCommunityResponse,
        pb.ListCommunitiesResponse,
    ),
    OrgKind(
        "grid",
        "grids",
        convert.grid_from_proto,
        pb.CreateGridResponse,
        pb.GetGridResponse,
        pb.ListGridsResponse,
    ),
    OrgKind(
        "building_group",
        "building_groups",
        convert.building_group_from_proto,
        pb.CreateBuildingGroupResponse,
        pb.GetBuildingGroupResponse,
        pb.ListBuildingGroupsResponse,
    ),
    OrgKind(
        "unit",
        "units",
        convert.unit_from_proto,
        pb.CreateUnitResponse,
        pb.GetUnitResponse,
        pb.ListUnitsResponse,
    ),
)


def _org_rpcs(k: OrgKind) -> tuple[Any, Any, Any]:
    """Create, Get and List of one kind, each a translation around one use case (typed Any:
    each stands in for a method the generated servicer declares with its own messages)."""

    async def create(self: RegistryApi, request: Any, context: aio.ServicerContext) -> Any:
        entry = k.from_proto(getattr(request, k.kind))
        stored, created_at = await self.r.create_org(current_principal(), entry)
        return k.create_response(**{k.kind: convert.org_to_proto(stored, created_at)})

    async def get(self: RegistryApi, request: Any, context: aio.ServicerContext) -> Any:
        entry, created_at = await self.r.get_org(current_principal(), k.kind, request.id)
        return k.get_response(**{k.kind: convert.org_to_proto(entry, created_at)})

    async def list_(self: RegistryApi, request: Any, context: aio.ServicerContext) -> Any:
        principal = current_principal()
        parent_id = getattr(request, k.parent_field) if k.parent_field else ""
        cursor = paging.cursor(
            request.page_size, request.page_token, {"kind": k.kind, "parent": parent_id}, str
        )
        rows = await self.r.list_org(principal, k.kind, parent_id, cursor.after, cursor.fetch)
        shown, token = cursor.page(rows, lambda row: row[0].id)
        items = [convert.org_to_proto(e, at) for e, at in shown]
        return k.list_response(**{k.list_field: items}, next_page_token=token)

    for handler, response in (
        (create, k.create_response),
        (get, k.get_response),
        (list_, k.list_response),
    ):
        handler.__name__ = handler.__qualname__ = response.__name__.removesuffix("Response")
    return create, get, list_


class RegistryApi(QualificationApi, registry_pb2_grpc.RegistryServiceServicer):
    def __init__(self, registry: Registry) -> None:
        self.r = registry

    # -- organisation ------------------------------------------------------------------------

    CreateStreet, GetStreet, ListStreets = _org_rpcs(STREET)
    CreateCommunity, GetCommunity, ListCommunities = _org_rpcs(COMMUNITY)
    CreateGrid, GetGrid, ListGrids = _org_rpcs(GRID)
    CreateBuildingGroup, GetBuildingGroup, ListBuildingGroups = _org_rpcs(BUILDING_GROUP)
    CreateUnit, GetUnit, ListUnits = _org_rpcs(UNIT)

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

    async def ListSkills(
        self, request: pb.ListSkillsRequest, context: aio.ServicerContext
    ) -> pb.ListSkillsResponse:
        current_principal()
        return pb.ListSkillsResponse(
            skills=[
                pb.Skill(
                    code=s.code,
                    name_zh=s.name_zh,
                    name_en=s.name_en,
                    category=s.category,
                    requires_proof=s.requires_proof,
                )
                for s in sorted(SKILLS, key=lambda s: s.code)
            ]
        )

    # -- members -----------------------------------------------------------------------------

    async def RegisterMember(
        self, request: pb.RegisterMemberRequest, context: aio.ServicerContext
    ) -> pb.RegisterMemberResponse:
        member, private = await self.r.register(
            current_principal(), request.request_id, convert.member_data_from_proto(request.member)
        )
        return pb.RegisterMemberResponse(member=convert.member_answer(member, private=private))

    async def ImportMembers(
        self, request_iterator: AsyncIterator[pb.ImportMembersRequest], context: aio.ServicerContext
    ) -> pb.ImportMembersResponse:
        principal = current_principal()
        response = pb.ImportMembersResponse()
        batch: list[tuple[int, str, MemberData]] = []

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
        return pb.GetMemberResponse(member=convert.member_answer(member, private=private))

    async def ListMembers(
        self, request: pb.ListMembersRequest, context: aio.ServicerContext
    ) -> pb.ListMembersResponse:
        filters = {f: getattr(request, f) for f in LIST_FILTERS}
        cursor = paging.cursor(request.page_size, request.page_token, filters, paging.uuid_key)
        active = {pb.MEMBER_STATUS_ACTIVE: True, pb.MEMBER_STATUS_DEACTIVATED: False}.get(
            request.status
        )
        rows = await self.r.list_members(
            current_principal(),
            community_id=request.community_id,
            grid_id=request.grid_id,
            skill=request.skill,
            active=active,
            after=cursor.after,
            limit=cursor.fetch,
            report_in=convert.REPORT_IN_FROM_PROTO.get(request.report_in_state)
            if request.report_in_state
            else None,
        )
        shown, token = cursor.page(rows, lambda row: row[0].id)
        return pb.ListMembersResponse(
            members=[convert.member_answer(m, private=p) for m, p in shown],
            next_page_token=token,
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
            member=convert.member_answer(member), phone_change_pending=pending
        )

    async def ConfirmPhoneChange(
        self, request: pb.ConfirmPhoneChangeRequest, context: aio.ServicerContext
    ) -> pb.ConfirmPhoneChangeResponse:
        member_id = member_id_arg(request.member_id, "member_id")
        member = await self.r.confirm_phone_change(current_principal(), member_id, request.code)
        return pb.ConfirmPhoneChangeResponse(member=convert.member_answer(member))

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
        return pb.ReportInResponse(member=convert.member_answer(member))

    async def DeactivateMember(
        self, request: pb.DeactivateMemberRequest, context: aio.ServicerContext
    ) -> pb.DeactivateMemberResponse:
        member_id = member_id_arg(request.member_id, "member_id")
        member = await self.r.deactivate(current_principal(), member_id, request.reason)
        return pb.DeactivateMemberResponse(member=convert.member_answer(member))

    async def ReactivateMember(
        self, request: pb.ReactivateMemberRequest, context: aio.ServicerContext
    ) -> pb.ReactivateMemberResponse:
        member_id = member_id_arg(request.member_id, "member_id")
        member = await self.r.reactivate(current_principal(), member_id)
        return pb.ReactivateMemberResponse(member=convert.member_answer(member))

    async def EraseMember(
        self, request: pb.EraseMemberRequest, context: aio.ServicerContext
    ) -> pb.EraseMemberResponse:
        member_id = member_id_arg(request.member_id, "member_id")
        at = await self.r.erase_member(current_principal(), member_id, request.reason)
        return pb.EraseMemberResponse(member_id=member_id, erase_time=ts(at))

    async def ExportMemberData(
        self, request: pb.RegistryServiceExportMemberDataRequest, context: aio.ServicerContext
    ) -> pb.RegistryServiceExportMemberDataResponse:
        member_id = member_id_arg(request.member_id, "member_id")
        member, phones = await self.r.export_member(current_principal(), member_id)
        part = export_part(REGISTRY, member_id, convert.member_export(member, phones))
        return pb.RegistryServiceExportMemberDataResponse(part=part)
