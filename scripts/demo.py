"""The main job, as far as the system goes today: bring Linli up on local servers, load the
synthetic district through the registry's gRPC API, and show each community's members.

Run by `make demo`. It leaves the system running (`make status`, `make down`).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

from grpc import aio
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from linli.v1 import registry_pb2
from linli.v1.registry_pb2_grpc import RegistryServiceStub
from scripts import gen_district, stack
from services.cli.district import import_district, import_members, read_members_csv
from services.common.auth import Principal, Role, issue_token
from services.common.settings import Settings

# Wide enough for the tables when the output is a file or a CI log rather than a terminal.
console = Console(width=None if sys.stdout.isatty() else 120)


async def load(address: str, settings: Settings, out_dir: Path, seed: int) -> None:
    district = gen_district.generate(seed=seed)
    yaml_path, csv_path = gen_district.write(district, out_dir)
    console.print(f"district files: [bold]{yaml_path}[/] and [bold]{csv_path}[/] (seed {seed})")
    metadata = (
        (
            "authorization",
            "Bearer "
            + issue_token(settings, Principal("demo-district-admin", Role.DISTRICT_ADMIN)),
        ),
    )
    async with aio.insecure_channel(address) as channel:
        stub = RegistryServiceStub(channel)
        started = time.perf_counter()
        org = await import_district(stub, metadata, yaml_path.read_text(encoding="utf-8"))
        console.print(
            f"organisation loaded in {time.perf_counter() - started:.2f}s: "
            f"{org.streets_created} streets, {org.communities_created} communities, "
            f"{org.grids_created} grids, {org.building_groups_created} building groups, "
            f"{org.units_created} units created; {org.unchanged} already there"
        )

        rows = read_members_csv(csv_path.read_text(encoding="utf-8"))
        with Progress(
            TextColumn("members reporting in"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("import", total=len(rows))
            started = time.perf_counter()
            report = await import_members(
                stub, metadata, rows, progress=lambda n: progress.update(task, completed=n)
            )
        took = time.perf_counter() - started
        console.print(
            f"members: {report.registered} registered, {report.already_registered} already "
            f"registered, {len(report.errors)} rejected, in {took:.2f}s "
            f"({report.received / took:,.0f} rows/s)"
        )
        for line, request_id, why in report.errors[:10]:
            console.print(f"  [red]line {line}[/] ({request_id}): {why}")
        await show_communities(stub, metadata)


async def show_communities(
    stub: RegistryServiceStub, metadata: tuple[tuple[str, str], ...]
) -> None:
    streets = {
        s.id: s.name
        for s in (
            await stub.ListStreets(registry_pb2.ListStreetsRequest(), metadata=metadata)
        ).streets
    }
    communities = (
        await stub.ListCommunities(
            registry_pb2.ListCommunitiesRequest(page_size=1000), metadata=metadata
        )
    ).communities
    table = Table(title="Jiyang district (synthetic): members reported in, per community")
    for column in ("street", "community", "grids", "units", "members", "hours/month", "top skills"):
        table.add_column(
            column,
            justify="right" if column in ("grids", "units", "members", "hours/month") else "left",
        )
    totals = Counter[str]()
    for c in sorted(communities, key=lambda c: (c.street_id, c.id)):
        grids = (
            await stub.ListGrids(
                registry_pb2.ListGridsRequest(community_id=c.id, page_size=1000), metadata=metadata
            )
        ).grids
        units = (
            await stub.ListUnits(
                registry_pb2.ListUnitsRequest(community_id=c.id, page_size=1000), metadata=metadata
            )
        ).units
        members: list[registry_pb2.Member] = []
        token = ""
        while True:
            page = await stub.ListMembers(
                registry_pb2.ListMembersRequest(
                    community_id=c.id, page_size=1000, page_token=token
                ),
                metadata=metadata,
            )
            members += page.members
            token = page.next_page_token
            if not token:
                break
        skills = Counter(s.skill for m in members for s in m.skills)
        hours = sum(m.hours_per_month for m in members)
        table.add_row(
            streets.get(c.street_id, c.street_id),
            f"{c.name} ({c.id})",
            str(len(grids)),
            str(len(units)),
            f"{len(members):,}",
            f"{hours:,}",
            ", ".join(code for code, _ in skills.most_common(3)),
        )
        totals.update(grids=len(grids), units=len(units), members=len(members), hours=hours)
    table.add_section()
    table.add_row(
        "",
        f"{len(communities)} communities",
        str(totals["grids"]),
        str(totals["units"]),
        f"{totals['members']:,}",
        f"{totals['hours']:,}",
        "",
    )
    console.print(table)


def main() -> int:
    settings = Settings()
    console.rule("Linli demo")
    state = stack.up(settings)
    address = f"127.0.0.1:{state.services['registry']['port']}"
    asyncio.run(load(address, settings, stack.state_dir(settings) / "district", seed=2018))
    console.print(
        "\nThe system is still running: [bold]make status[/] shows it, [bold]make down[/] stops "
        "it.\nExplore with any gRPC client (the servers offer reflection), e.g.\n"
        f'  grpcurl -plaintext -H "authorization: Bearer $(make -s token)" {address} '
        "linli.v1.RegistryService/ListCommunities"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
