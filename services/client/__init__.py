"""A caller's side of Linli: where the services listen, a session with their stubs and a bearer
token, and the paged reads that several callers need. Shared by the `linli` command, the month's
report and the demo, so that they find the services and page through them the same way.

Where a service listens, first found wins: an address given by the caller; LINLI_<NAME>_ADDRESS
(host:port); LINLI_<NAME>_PORT on this machine (the setting `make up` starts the service with);
the port `make up` recorded in its state file; the service's default port.

With LINLI_TLS_CA_FILE set, every channel speaks TLS and trusts that CA (and presents
LINLI_TLS_CERT_FILE and LINLI_TLS_KEY_FILE when the services require client certificates).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from opentelemetry import trace

from linli.v1 import common_pb2, matching_pb2, points_pb2, registry_pb2, tasks_pb2
from linli.v1.affairs_pb2_grpc import AffairsServiceStub
from linli.v1.attendance_pb2_grpc import AttendanceServiceStub
from linli.v1.identity_pb2_grpc import IdentityServiceStub
from linli.v1.matching_pb2_grpc import MatchingServiceStub
from linli.v1.notifications_pb2_grpc import NotificationServiceStub
from linli.v1.points_pb2_grpc import PointsServiceStub
from linli.v1.registry_pb2_grpc import RegistryServiceStub
from linli.v1.tasks_pb2_grpc import TaskServiceStub
from services.common.service_list import SERVICES
from services.common.settings import ClientSettings
from services.common.tls import ClientTls, channel
from services.common.tracing import client_interceptors

T = TypeVar("T")
Metadata = tuple[tuple[str, str], ...]


def stack_state_file(settings: ClientSettings) -> Path:
    """Where `make up` records what it started (ports included)."""
    return Path(settings.state_dir) / "stack/state.json"


def addresses(
    given: Mapping[str, str | None] | None = None, settings: ClientSettings | None = None
) -> dict[str, str]:
    """host:port of every service (see the module's note for the order)."""
    settings = settings or ClientSettings()
    recorded: dict[str, int] = {}
    state = stack_state_file(settings)
    if state.exists():
        try:
            services = json.loads(state.read_text()).get("services", {})
            recorded = {name: int(info["port"]) for name, info in services.items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            recorded = {}  # a half-written or foreign file: fall back to the settings
    out = {}
    for spec in SERVICES:
        port = settings.port(spec.name)
        out[spec.name] = (
            (given or {}).get(spec.name)
            or settings.address(spec.name)
            or f"127.0.0.1:{port or recorded.get(spec.name, spec.default_port)}"
        )
    return out


def client_tls(settings: ClientSettings | None = None) -> ClientTls | None:
    """The caller's TLS from its settings; None (plaintext) without a CA file."""
    settings = settings or ClientSettings()
    if not settings.tls_ca_file:
        return None
    return ClientTls(
        ca_file=settings.tls_ca_file,
        cert_file=settings.tls_cert_file,
        key_file=settings.tls_key_file,
        server_name=settings.tls_server_name,
    )


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


def token_from(explicit: str | None, settings: ClientSettings | None = None) -> str | None:
    """The caller's token: given, or LINLI_TOKEN; None when neither is set."""
    return explicit or (settings or ClientSettings()).token or None


class Stubs:
    """Channels and stubs to the three services; close them (or use `async with`). `tls`
    defaults to the caller's settings (`client_tls`). Every call is a client span that sends the
    caller's trace context on, under `tracer_provider` or OpenTelemetry's global one (which
    records nothing unless the process set one up)."""

    def __init__(
        self,
        where: Mapping[str, str],
        tls: ClientTls | None = None,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.addresses = dict(where)
        tls = tls or client_tls()
        self.channels = {
            k: channel(v, tls, interceptors=client_interceptors(tracer_provider))
            for k, v in self.addresses.items()
        }
        self.registry = RegistryServiceStub(self.channels["registry"])
        self.tasks = TaskServiceStub(self.channels["tasks"])
        # Check-in and hours are served by the task service's process.
        self.attendance = AttendanceServiceStub(self.channels["tasks"])
        self.matching = MatchingServiceStub(self.channels["matching"])

    @property
    def identity(self) -> IdentityServiceStub:
        """The identity service's stub; only callers that sign in need its address."""
        channel = self.channels.get("identity")
        if channel is None:
            raise LookupError("no address for the identity service (LINLI_IDENTITY_ADDRESS)")
        return IdentityServiceStub(channel)

    @property
    def notifications(self) -> NotificationServiceStub:
        """The notifications service's stub (inboxes)."""
        channel = self.channels.get("notifications")
        if channel is None:
            raise LookupError("no address for the notifications service")
        return NotificationServiceStub(channel)

    @property
    def points(self) -> PointsServiceStub:
        """The points service's stub; only callers of the ledger need its address."""
        channel = self.channels.get("points")
        if channel is None:
            raise LookupError("no address for the points service (LINLI_POINTS_ADDRESS)")
        return PointsServiceStub(channel)

    @property
    def affairs(self) -> AffairsServiceStub:
        """The affairs service's stub (the ledger); only callers that read it need its address."""
        channel = self.channels.get("affairs")
        if channel is None:
            raise LookupError("no address for the affairs service (LINLI_AFFAIRS_ADDRESS)")
        return AffairsServiceStub(channel)

    async def close(self) -> None:
        for c in self.channels.values():
            await c.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()


class Session(Stubs):
    """Stubs and the caller's metadata together: what a command or the report acts with."""

    def __init__(
        self,
        where: Mapping[str, str],
        token: str,
        tls: ClientTls | None = None,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        super().__init__(where, tls, tracer_provider)
        self.md = bearer(token)


async def gather(
    items: Iterable[T], fn: Callable[[T], Awaitable[Any]], width: int = 16
) -> list[Any]:
    """Call fn on every item, `width` at a time, keeping the order of results."""
    gate = asyncio.Semaphore(width)

    async def one(item: T) -> Any:
        async with gate:
            return await fn(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


async def pages(
    call: Callable[..., Awaitable[Any]], request: Any, field: str, metadata: Metadata
) -> list[Any]:
    """Every item of a paged List call: `request` is sent again with each next page token."""
    out: list[Any] = []
    while True:
        page = await call(request, metadata=metadata)
        out += getattr(page, field)
        if not page.next_page_token:
            return out
        request.page_token = page.next_page_token


async def members_of(stubs: Stubs, md: Metadata, community: str) -> list[registry_pb2.Member]:
    return await pages(
        stubs.registry.ListMembers,
        registry_pb2.ListMembersRequest(community_id=community, page_size=1000),
        "members",
        md,
    )


async def tasks_of(
    stubs: Stubs, md: Metadata, community: str, statuses: list[Any] | None = None
) -> list[tasks_pb2.Task]:
    return await pages(
        stubs.tasks.ListTasks,
        tasks_pb2.ListTasksRequest(community_id=community, statuses=statuses or [], page_size=1000),
        "tasks",
        md,
    )


async def assignments_of(
    stubs: Stubs, md: Metadata, task_id: str, states: list[Any] | None = None
) -> list[tasks_pb2.Assignment]:
    return await pages(
        stubs.tasks.ListAssignments,
        tasks_pb2.ListAssignmentsRequest(task_id=task_id, states=states or [], page_size=1000),
        "assignments",
        md,
    )


# What an export file says it is, so that a reader knows its shape.
EXPORT_FORMAT = "linli.member-export/1"


async def export_member(stubs: Stubs, md: Metadata, member_id: str) -> dict[str, Any]:
    """Everything Linli holds about a member, from every service, as one JSON document: each
    service's part under its name, with when it was made."""
    answers = await asyncio.gather(
        stubs.registry.ExportMemberData(
            registry_pb2.RegistryServiceExportMemberDataRequest(member_id=member_id), metadata=md
        ),
        stubs.tasks.ExportMemberData(
            tasks_pb2.TaskServiceExportMemberDataRequest(member_id=member_id), metadata=md
        ),
        stubs.matching.ExportMemberData(
            matching_pb2.MatchingServiceExportMemberDataRequest(member_id=member_id), metadata=md
        ),
        stubs.points.ExportMemberData(
            points_pb2.PointsServiceExportMemberDataRequest(member_id=member_id), metadata=md
        ),
    )
    parts: list[common_pb2.MemberDataPart] = [a.part for a in answers]
    return {
        "format": EXPORT_FORMAT,
        "member_id": member_id,
        "parts": {
            a.service: {
                "export_time": a.export_time.ToJsonString(),
                "data": json.loads(a.data_json),
            }
            for a in parts
        },
    }
