"""`linli district`: loading a district through the registry's API, the organisation file, then
the members.

The loading functions are used by the demo and the benchmarks too. Everything goes through gRPC,
exactly as any other client would do it. A members file may be saved by Excel: CSV in UTF-8 (with
or without the byte order mark Excel writes), CSV in GBK (Excel's "CSV" on a Chinese Windows), or
an .xlsx workbook (its first sheet).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from linli.v1 import common_pb2, registry_pb2
from linli.v1.registry_pb2_grpc import RegistryServiceStub
from services.cli.base import Cli, console, pass_cli
from services.client import Session

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
    # A byte order mark would stick to the first header ("\ufeffname") and every row would then
    # lack its name; headers are trimmed for the same reason.
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    reader.fieldnames = [(h or "").strip() for h in reader.fieldnames or []]
    return list(reader)


def decode_members_csv(data: bytes) -> str:
    """UTF-8 (with or without a byte order mark), else GB18030, the superset of GBK that covers
    every file a Chinese Excel writes."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as e:
        raise ValueError(
            "the members file is neither UTF-8 nor GBK text: save it as CSV UTF-8 or .xlsx"
        ) from e


def read_members_xlsx(data: bytes) -> list[dict[str, str]]:
    """The first sheet of a workbook: a header row, then one member a row; empty rows skipped."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = [_cell(h).strip() for h in next(rows, ())]
        out = []
        for row in rows:
            values = [_cell(v) for v in row]
            if any(v.strip() for v in values):
                out.append(dict(zip(header, values, strict=False)))
        return out
    finally:
        book.close()


def _cell(value: object) -> str:
    """A cell as the CSV would hold it: 13800138000 not 13800138000.0, empty for nothing."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_members_file(path: Path) -> list[dict[str, str]]:
    data = path.read_bytes()
    if path.suffix.lower() in (".xlsx", ".xlsm") or data.startswith(b"PK\x03\x04"):
        return read_members_xlsx(data)
    return read_members_csv(decode_members_csv(data))


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


# -- the command -----------------------------------------------------------------------------------


@click.group(help="The organisation and its members.")
def district() -> None:
    pass


@district.command(help="Load a district file (docs/district-file.md), and a members file.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--members",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="members.csv (UTF-8 or GBK) or members.xlsx, registered through the bulk stream",
)
@pass_cli
def load(cli: Cli, file: Path, members: Path | None) -> None:
    text = file.read_text(encoding="utf-8-sig")
    rows = read_members_file(members) if members else None

    async def go(s: Session) -> tuple[registry_pb2.ImportDistrictResponse, ImportReport | None]:
        org = await import_district(s.registry, s.md, text)
        if rows is None:
            return org, None
        if cli.json:
            return org, await import_members(s.registry, s.md, rows)
        with Progress(
            TextColumn("members"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            bar = progress.add_task("members", total=len(rows))
            return org, await import_members(
                s.registry, s.md, rows, progress=lambda n: progress.update(bar, completed=n)
            )

    org, report = cli.call(go)

    def text_out() -> None:
        console.print(
            f"organisation: {org.streets_created} streets, {org.communities_created} "
            f"communities, {org.grids_created} grids, {org.building_groups_created} "
            f"building groups, {org.units_created} units created; {org.unchanged} unchanged"
        )
        if report is not None:
            console.print(
                f"members: {report.registered} registered, {report.already_registered} "
                f"already registered, {len(report.errors)} rejected"
            )
            for line, rid, why in report.errors[:20]:
                console.print(f"  [red]line {line}[/] ({escape(rid)}): {escape(why)}")

    cli.emit(
        {
            "organisation": org,
            "members": None
            if report is None
            else {
                "registered": report.registered,
                "already_registered": report.already_registered,
                "rejected": [
                    {"line": line, "request_id": rid, "error": why}
                    for line, rid, why in report.errors
                ],
            },
        },
        text_out,
    )
