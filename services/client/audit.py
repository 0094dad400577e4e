"""The audit log of the whole system: every service's ListAuditEntries, paged through and merged
by time, as a district administrator reads it."""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from linli.v1 import audit_pb2
from linli.v1.audit_pb2_grpc import AuditServiceStub
from services.client import Metadata, Stubs, gather, pages


async def audit_log(
    stubs: Stubs,
    md: Metadata,
    *,
    member_id: str = "",
    actor: str = "",
    since: timestamp_pb2.Timestamp | None = None,
    until: timestamp_pb2.Timestamp | None = None,
) -> list[audit_pb2.AuditEntry]:
    """The entries of every service matching every filter given, oldest first."""

    async def of(service: str) -> list[audit_pb2.AuditEntry]:
        request = audit_pb2.ListAuditEntriesRequest(
            member_id=member_id, actor=actor, start_time=since, end_time=until, page_size=1000
        )
        stub = AuditServiceStub(stubs.channels[service])
        return await pages(stub.ListAuditEntries, request, "entries", md)

    found = await gather(sorted(stubs.channels), of)
    merged = [e for entries in found for e in entries]
    # Each service's ids follow the order it wrote them; across services, time decides.
    merged.sort(key=lambda e: (e.time.seconds, e.time.nanos, e.service, int(e.id)))
    return merged
