"""The matching service's gRPC servicer: proto in, use case, proto out."""

from __future__ import annotations

from grpc import aio

from linli.v1 import matching_pb2 as pb
from linli.v1 import matching_pb2_grpc
from services.common import audit_api
from services.common.auth import current_principal
from services.common.interceptors import methods
from services.common.protoconv import export_part
from services.common.subjects import MATCHING
from services.matching import convert
from services.matching.service import Matching

# What a member may never call: refused at the door, before the request is looked at.
STAFF_ONLY = audit_api.STAFF_ONLY | methods(
    pb.DESCRIPTOR.services_by_name["MatchingService"],
    "RunMatching",
    "GetMatchRun",
    "ListMatchRuns",
    "ListMatchAssignments",
    "ListUnfilledPlaces",
    "SuggestMembers",
    "EditDraft",
    "PublishDraft",
)


class MatchingApi(matching_pb2_grpc.MatchingServiceServicer):
    def __init__(self, matching: Matching) -> None:
        self.m = matching

    async def RunMatching(
        self, request: pb.RunMatchingRequest, context: aio.ServicerContext
    ) -> pb.RunMatchingResponse:
        run = await self.m.run(
            current_principal(),
            convert.scope_of(request.community_id, request.street_id),
            dry_run=request.dry_run,
            method=convert.method(request.method),
            time_limit_s=request.time_limit_s,
            gap_target=request.gap_target,
            weights=convert.weights(request.weights),
            max_distance_m=request.max_distance_m,
            draft=request.draft,
        )
        return pb.RunMatchingResponse(run=convert.run_to_proto(run))

    async def EditDraft(
        self, request: pb.EditDraftRequest, context: aio.ServicerContext
    ) -> pb.EditDraftResponse:
        run = await self.m.edit_draft(
            current_principal(),
            convert.uuid_id(request.run_id, "run_id"),
            convert.draft_edits(request.edits),
        )
        return pb.EditDraftResponse(run=convert.run_to_proto(run))

    async def PublishDraft(
        self, request: pb.PublishDraftRequest, context: aio.ServicerContext
    ) -> pb.PublishDraftResponse:
        run = await self.m.publish_draft(
            current_principal(), convert.uuid_id(request.run_id, "run_id")
        )
        return pb.PublishDraftResponse(run=convert.run_to_proto(run))

    async def GetMatchRun(
        self, request: pb.GetMatchRunRequest, context: aio.ServicerContext
    ) -> pb.GetMatchRunResponse:
        run = await self.m.get_run(current_principal(), convert.uuid_id(request.id, "id"))
        return pb.GetMatchRunResponse(run=convert.run_to_proto(run))

    async def ListMatchRuns(
        self, request: pb.ListMatchRunsRequest, context: aio.ServicerContext
    ) -> pb.ListMatchRunsResponse:
        runs, token = await self.m.list_runs(
            current_principal(),
            convert.scope_of(request.community_id, request.street_id),
            request.page_size,
            request.page_token,
        )
        return pb.ListMatchRunsResponse(
            runs=[convert.run_to_proto(r) for r in runs], next_page_token=token
        )

    async def ListMatchAssignments(
        self, request: pb.ListMatchAssignmentsRequest, context: aio.ServicerContext
    ) -> pb.ListMatchAssignmentsResponse:
        shown, token = await self.m.run_assignments(
            current_principal(),
            convert.uuid_id(request.run_id, "run_id"),
            request.page_size,
            request.page_token,
        )
        return pb.ListMatchAssignmentsResponse(
            assignments=[convert.assignment_to_proto(a) for a in shown], next_page_token=token
        )

    async def ListUnfilledPlaces(
        self, request: pb.ListUnfilledPlacesRequest, context: aio.ServicerContext
    ) -> pb.ListUnfilledPlacesResponse:
        run_id = convert.uuid_id(request.run_id, "run_id")
        places, token = await self.m.unfilled_places(
            current_principal(), run_id, request.page_size, request.page_token
        )
        return pb.ListUnfilledPlacesResponse(
            places=[convert.unfilled_to_proto(run_id, u) for u in places], next_page_token=token
        )

    async def SuggestMembers(
        self, request: pb.SuggestMembersRequest, context: aio.ServicerContext
    ) -> pb.SuggestMembersResponse:
        rows = await self.m.suggest_members(
            current_principal(), convert.uuid_id(request.task_id, "task_id"), request.limit
        )
        return pb.SuggestMembersResponse(members=[convert.member_suggestion(s) for s in rows])

    async def SuggestTasks(
        self, request: pb.SuggestTasksRequest, context: aio.ServicerContext
    ) -> pb.SuggestTasksResponse:
        member_id = convert.uuid_id(request.member_id, "member_id") if request.member_id else ""
        rows = await self.m.suggest_tasks(current_principal(), member_id, request.limit)
        return pb.SuggestTasksResponse(tasks=[convert.task_suggestion(s) for s in rows])

    async def ExportMemberData(
        self, request: pb.MatchingServiceExportMemberDataRequest, context: aio.ServicerContext
    ) -> pb.MatchingServiceExportMemberDataResponse:
        member_id = convert.uuid_id(request.member_id, "member_id")
        parts = self.m.export_member(current_principal(), member_id)
        part = export_part(MATCHING, member_id, convert.member_export(*parts))
        return pb.MatchingServiceExportMemberDataResponse(part=part)
