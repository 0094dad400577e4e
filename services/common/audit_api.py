"""The gRPC servicer of a service's audit log (linli.v1.AuditService), the same in every service:
district administrators list the entries by member, actor and time."""

from __future__ import annotations

import asyncpg
from grpc import aio

from linli.v1 import audit_pb2 as pb
from linli.v1 import audit_pb2_grpc
from services.common import audit, paging
from services.common.auth import Principal, Role, current_principal
from services.common.errors import PermissionDenied, invalid
from services.common.interceptors import methods
from services.common.protoconv import time_from_proto, ts

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["AuditService"].full_name
# For each service's STAFF_ONLY: a member is refused at the door.
STAFF_ONLY = methods(pb.DESCRIPTOR.services_by_name["AuditService"], "ListAuditEntries")

_KIND = {"write": pb.AUDIT_KIND_WRITE, "reveal": pb.AUDIT_KIND_REVEAL}
_ID_MAX = 128


def may_read_log(principal: Principal) -> None:
    """Only district administrators read the log: it says whose data was shown to whom."""
    if principal.role is not Role.DISTRICT_ADMIN:
        raise PermissionDenied("only district administrators may read the audit log")


def filters_from_proto(request: pb.ListAuditEntriesRequest) -> audit.Filters:
    for name in ("member_id", "actor"):
        if len(getattr(request, name)) > _ID_MAX:
            raise invalid(name, f"must be at most {_ID_MAX} characters")
    since = time_from_proto(request.start_time) if request.HasField("start_time") else None
    until = time_from_proto(request.end_time) if request.HasField("end_time") else None
    if since is not None and until is not None and until < since:
        raise invalid("end_time", "must not be before start_time")
    return audit.Filters(request.member_id, request.actor, since, until)


def entry_to_proto(service: str, e: audit.Entry) -> pb.AuditEntry:
    role = Principal(e.actor, Role(e.actor_role)).to_proto().role
    return pb.AuditEntry(
        id=str(e.id),
        service=service,
        time=ts(e.at),
        actor=e.actor,
        actor_role=role,
        kind=_KIND[e.kind],
        action=e.action,
        member_id=e.member_id,
        task_id=e.task_id,
        revealed=list(e.revealed),
        method=e.method,
        request_id=e.request_id,
    )


class AuditApi(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, service: str, pool: asyncpg.Pool) -> None:
        self.service = service
        self.pool = pool

    async def ListAuditEntries(
        self, request: pb.ListAuditEntriesRequest, context: aio.ServicerContext
    ) -> pb.ListAuditEntriesResponse:
        may_read_log(current_principal())
        filters = filters_from_proto(request)
        key = (filters.member_id, filters.actor, str(filters.since), str(filters.until))
        cursor = paging.cursor(request.page_size, request.page_token, key, audit.entry_key)
        rows = await audit.list_entries(self.pool, filters, cursor.after, cursor.fetch)
        shown, token = cursor.page(rows, lambda e: str(e.id))
        return pb.ListAuditEntriesResponse(
            entries=[entry_to_proto(self.service, e) for e in shown], next_page_token=token
        )


def add_to_server(server: aio.Server, service: str, pool: asyncpg.Pool) -> str:
    """Serve the audit log beside the service's own API; returns its name for reflection."""
    audit_pb2_grpc.add_AuditServiceServicer_to_server(AuditApi(service, pool), server)
    return SERVICE_NAME
