"""The main job: bring Linli up on local servers, play a month of the synthetic district through
its APIs (dev/month.py), and write the month's report (services/report) as `linli report` does.

Run by `make demo`. It leaves the system running (`make status`, `make down`).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from pathlib import Path

from rich.console import Console

from dev import accounts, gen_district, month, stack
from dev.accounts import SignedIn
from dev.console import url as console_url
from services import report
from services.client import Stubs
from services.common.clock import FileClock
from services.common.settings import Settings

console = Console(width=None if sys.stdout.isatty() else 110)


async def main_async(
    settings: Settings, seed: int, small: bool, out: Path, sign_in: str = "identity"
) -> Path:
    # The demo tells one month from the start: a system left by `make up` or an earlier demo is
    # stopped and its local data removed first (servers named by LINLI_* URLs are not touched).
    if stack.load_state(settings) is not None:
        stack.down(settings)
    for name in ("pg", "nats", "logs", "clock", "district", "sms-inbox.jsonl"):
        target = stack.state_dir(settings) / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    state = stack.up(settings)
    addresses = {name: f"127.0.0.1:{info['port']}" for name, info in state.services.items()}
    district = gen_district.generate(seed=seed, small=small)
    yaml_path, csv_path = gen_district.write(district, stack.state_dir(settings) / "district")
    console.print(f"district files: {yaml_path} and {csv_path} (seed {seed})")
    clock = FileClock(stack.state_dir(settings) / "clock")
    started = time.perf_counter()
    last = [started]

    def step(name: str) -> None:
        now = time.perf_counter()
        console.print(f"[dim]{now - started:6.1f}s[/] {name}…")
        last[0] = now

    actors: month.People = month.Actors(Settings())
    if sign_in == "identity":
        step("signing the district office, the staff and a service in through identity")
        communities = {m["community_id"] for m in district.members if m["community_id"]}
        inbox = stack.sms_inbox(settings)
        actors = await SignedIn.start(addresses, state.database_url, inbox, communities)
    try:
        played = await month.play(addresses, district, clock, seed=seed, step=step, actors=actors)
        console.print(f"[dim]{time.perf_counter() - started:6.1f}s[/] writing the report…")
        async with Stubs(addresses) as stubs:
            data = await report.collect(stubs, actors.admin, played.run.id if played.run else None)
    finally:
        await actors.close()
    data.scope = "synthetic district"
    path = report.write(out, data, month.story(played))
    summarise(played, data)
    console.print(
        f"\n[bold]Report:[/] {path.resolve()}  (open it in any browser; it needs no internet)"
    )
    if state.console is not None:
        console.print(f"\n[bold]Staff console:[/] {console_url(state.console['port'])}")
        if sign_in == "identity":
            first = sorted(data.members)[0] if data.members else None
            if first:
                console.print(
                    f"  sign in as [bold]{accounts.staff_name(first)}[/] with the password "
                    f"[bold]{accounts.PASSWORD}[/] (the staff of {first}; every community has "
                    "its own staff-<community> account)"
                )
    console.print(
        "The system is still running, a month on in its own time: [bold]make status[/] shows "
        "it, [bold]make down[/] stops it, and the [bold]linli[/] command explores it "
        "(e.g. `.venv/bin/linli tasks list --community chengli`)."
    )
    return path


def summarise(played: month.Month, data: report.Data) -> None:
    run = played.run
    console.rule("A month of the district")
    console.print(
        f"{sum(len(m) for m in data.members.values()):,} members reported in to "
        f"{len(data.communities)} communities; {played.wishes} wishes and "
        f"{played.roles} volunteer roles ({played.role_tasks} occurrences) posted; "
        f"{played.claimed} wishes claimed by members themselves."
    )
    if run is not None:
        console.print(
            f"District matching: {run.places_filled:,} of {run.places:,} open places planned in "
            f"{run.solve_s:.2f}s of solving ({run.solver_status}, {run.gap * 100:.4f} % from the "
            f"proven bound); first come first served would have filled "
            f"{run.fcfs_places_filled:,}."
        )
    console.print(
        f"Members accepted {played.answers['accepted']}, declined "
        f"{played.answers['declined']}, left {played.answers['unanswered']} "
        f"unanswered; {played.reoffered} places were re-offered."
    )
    console.print(
        f"{played.completed} tasks confirmed done: {played.hours:,.1f} hours given, "
        f"{played.no_shows} no-shows."
    )
    if data.ledger is not None:
        t = data.ledger.total
        console.print(
            f"The ledger: {t.raised} concerns raised, {t.solved_in_community} solved in the "
            f"community, {t.escalated} escalated to the street ({t.solved_in_street} solved "
            f"there), {t.overdue} overdue, {t.satisfaction_rate:.0%} of answers satisfied "
            "(`.venv/bin/linli affairs list`)."
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=2018)
    parser.add_argument("--small", action="store_true", help="one street, 300 members")
    parser.add_argument("--out", default="reports/linli-month.html")
    parser.add_argument(
        "--sign-in",
        choices=["local", "identity"],
        default="identity",
        help="identity (the default): everyone signs in through the identity service, as in a "
        "district; local: tokens signed with the local development key",
    )
    args = parser.parse_args(argv)
    console.rule("Linli demo")
    asyncio.run(main_async(Settings(), args.seed, args.small, Path(args.out), args.sign_in))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
