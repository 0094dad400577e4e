"""Loading a district through the registry's API: the organisation file, then the members.

Used by the demo, the benchmarks and (later) the `linli` command. Everything goes through gRPC,
exactly as any other client would do it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from linli.v1 import common_pb2, registry_pb2
from linli.v1.registry_pb2_grpc import RegistryServiceStub

DAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
Metadata = tuple[tuple[str, str], ...]


class RowError(ValueError):
    """A members file row that cannot even be turned into a request."""


def _minutes(hhmm: str) -> int:
    hours, _, minutes = hhmm.partition(":")
    return int(hours) * 60 + int(minutes)


def member_from_row(row: Mapping[str, Any]) -> registry_pb2.RegisterMemberRequest:
    """One members.csv row (see docs/district-file.md) as a RegisterMemberRequest."""
    row = {k: "" if v is None else str(v) for k, v in row.items()}
    try:
        skills = [
            registry_pb2.MemberSkill(skill=code, level=int(level))
            for part in (row.get("skills") or "").split(";")
            if part.strip()
            for code, _, level in [part.strip().partition(":")]
        ]
        windows = []
        for part in (row.get("availability") or "").split(";"):
            if not part.strip():
                continue
            day, _, span = part.strip().partition(" ")
            start, _, end = span.partition("-")
            windows.append(
                common_pb2.WeeklyWindow(
                    day=DAYS[day.lower()],  # type: ignore[arg-type]
                    start_minute=_minutes(start),
                    end_minute=_minutes(end),
                )
            )
        member = registry_pb2.Member(
            name=row["name"],
            phone=row["phone"],
            home=common_pb2.LatLng(latitude=float(row["lat"]), longitude=float(row["lng"])),
            community_id=row.get("community_id") or "",
            grid_id=row.get("grid_id") or "",
            building_group_id=row.get("building_group_id") or "",
            unit_id=row.get("unit_id") or "",
            skills=skills,
            availability=windows,
            hours_per_month=int(row.get("hours_per_month") or 0),
        )
    except (KeyError, ValueError) as e:
        raise RowError(f"cannot read the row: {e!r}") from e
    return registry_pb2.RegisterMemberRequest(request_id=row.get("request_id") or "", member=member)


def read_members_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@dataclass
class ImportReport:
    received: int = 0
    registered: int = 0
    already_registered: int = 0
    # (line in the file, request_id, message)
    errors: list[tuple[int, str, str]] = field(default_factory=list)


async def import_members(
    stub: RegistryServiceStub,
    metadata: Metadata,
    rows: Iterable[Mapping[str, Any]],
    *,
    progress: Callable[[int], None] | None = None,
    first_line: int = 2,
    timeout: float = 600.0,
) -> ImportReport:
    """Stream members to ImportMembers; errors name the file line (header is line 1)."""
    report = ImportReport()
    requests: list[tuple[int, registry_pb2.RegisterMemberRequest]] = []
    for line, row in enumerate(rows, start=first_line):
        try:
            requests.append((line, member_from_row(row)))
        except RowError as e:
            report.errors.append((line, str(row.get("request_id", "")), str(e)))

    async def stream() -> AsyncIterator[registry_pb2.ImportMembersRequest]:
        for i, (_, req) in enumerate(requests):
            if progress is not None and i % 250 == 0:
                progress(i)
            yield registry_pb2.ImportMembersRequest(row=req)
        if progress is not None:
            progress(len(requests))

    reply = await stub.ImportMembers(stream(), metadata=metadata, timeout=timeout)
    report.received = reply.received
    report.registered = reply.registered
    report.already_registered = reply.already_registered
    for err in reply.errors:
        line = requests[err.index][0]
        detail = "; ".join(err.field_violations) or err.message
        report.errors.append((line, err.request_id, detail))
    report.errors.sort()
    return report


async def import_district(
    stub: RegistryServiceStub, metadata: Metadata, text: str
) -> registry_pb2.ImportDistrictResponse:
    return await stub.ImportDistrict(  # type: ignore[no-any-return]
        registry_pb2.ImportDistrictRequest(content=text), metadata=metadata, timeout=120
    )
