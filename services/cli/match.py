"""`linli match`: matching runs."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from linli.v1 import matching_pb2
from services.cli.base import Cli, console, pass_cli
from services.client import Session, pages

UUID_LENGTH = 36


@click.group(help="Matching runs.")
def match() -> None:
    pass


def show_run(run: matching_pb2.MatchRun) -> None:
    scope = f"{run.scope_kind} {run.scope_id}".strip()
    kind = (
        ", draft"
        if run.state == matching_pb2.MATCH_RUN_STATE_DRAFT
        else ", dry run"
        if run.dry_run
        else ""
    )
    table = Table(title=f"match run {run.id} ({scope}{kind})", show_header=False)
    rows = [
        ("solver", f"{run.solver_status}, gap {run.gap * 100:.3f} % to the proven bound"),
        (
            "input",
            f"{run.members:,} members, {run.tasks:,} tasks, {run.places:,} places, "
            f"{run.candidate_pairs:,} candidate pairs, {run.components} sub-problems",
        ),
        (
            "time",
            f"load {run.load_s:.2f}s, candidates {run.candidates_s:.2f}s, "
            f"solve {run.solve_s:.2f}s, write {run.write_s:.2f}s",
        ),
        (
            "filled",
            f"{run.places_filled:,} of {run.places:,} places "
            f"(first come first served: {run.fcfs_places_filled:,})",
        ),
        (
            "value",
            f"{run.objective:,.0f} points, bound {run.bound:,.0f} "
            f"(first come first served: {run.fcfs_objective:,.0f})",
        ),
        ("by group", ", ".join(f"{g.group} {g.filled}/{g.places}" for g in run.filled_by_group)),
        (
            "distance",
            f"mean {run.mean_distance_m:.0f} m, 95th percentile {run.p95_distance_m:.0f} m",
        ),
        (
            "load",
            f"{run.members_used:,} members used, hours stdev {run.hours_stdev:.2f}, "
            f"at most {run.most_places} places each",
        ),
        (
            "rotas",
            f"{run.rota_stability * 100:.1f} % of {run.slot_weeks:,} slot-weeks by their usual "
            "members",
        ),
        (
            "teams",
            f"{run.team_tasks_covered} of {run.team_tasks} team tasks staffed with every skill",
        ),
        (
            "events",
            f"{run.expected_attendance:.1f} expected of {run.event_headcount} asked "
            f"({run.event_planned} planned)",
        ),
    ]
    if run.state == matching_pb2.MATCH_RUN_STATE_DRAFT:
        rows.append(
            ("draft", f"{run.pinned_pairs} pinned, last re-plan changed {run.changed_pairs}")
        )
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


@match.command(help="Plan and propose for a community, a street, or the whole district.")
@click.option("--community", default="", help="only this community")
@click.option("--street", default="", help="only this street")
@click.option("--dry-run", is_flag=True, help="plan without proposing")
@click.option("--draft", is_flag=True, help="keep the plan as a draft to review and publish")
@click.option(
    "--time-limit",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True, max=600),
    help="seconds for the exact model",
)
@pass_cli
def run(
    cli: Cli, community: str, street: str, dry_run: bool, draft: bool, time_limit: float
) -> None:
    if community and street:
        raise click.UsageError("--community and --street are exclusive: give one, or neither")
    req = matching_pb2.RunMatchingRequest(
        community_id=community,
        street_id=street,
        dry_run=dry_run,
        draft=draft,
        time_limit_s=time_limit,
    )

    async def go(s: Session) -> tuple[matching_pb2.MatchRun, list[matching_pb2.UnfilledPlace]]:
        if cli.json:
            reply = await s.matching.RunMatching(req, metadata=s.md, timeout=time_limit + 120)
        else:
            with console.status("planning every open place (flow plan, then the exact model)…"):
                reply = await s.matching.RunMatching(req, metadata=s.md, timeout=time_limit + 120)
        unfilled = await pages(
            s.matching.ListUnfilledPlaces,
            matching_pb2.ListUnfilledPlacesRequest(run_id=reply.run.id, page_size=1000),
            "places",
            s.md,
        )
        return reply.run, unfilled

    found, unfilled = cli.call(go)

    def text() -> None:
        show_run(found)
        reasons: dict[str, int] = {}
        for u in unfilled:
            reasons[u.explanation] = reasons.get(u.explanation, 0) + u.places
        for why, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
            console.print(f"  {n:5d} place(s) empty: {escape(why)}")

    cli.emit({"run": found, "unfilled": unfilled}, text)


async def resolve_run(s: Session, run_id: str) -> str:
    """A run's id from its id or the start of it (as short as is unique among the runs the
    caller sees)."""
    if len(run_id) >= UUID_LENGTH:
        return run_id
    runs = await pages(
        s.matching.ListMatchRuns, matching_pb2.ListMatchRunsRequest(page_size=1000), "runs", s.md
    )
    found = sorted({r.id for r in runs if r.id.startswith(run_id.lower())})
    if len(found) != 1:
        why = "no run" if not found else f"{len(found)} runs"
        raise click.BadParameter(f"{why} start with {run_id!r}", param_hint="RUN_ID")
    return found[0]


@match.command(help="A recorded run and what it planned.")
@click.argument("run_id")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@pass_cli
def show(cli: Cli, run_id: str, limit: int) -> None:
    async def go(
        s: Session,
    ) -> tuple[matching_pb2.MatchRun, list[matching_pb2.MatchAssignment]]:
        full = await resolve_run(s, run_id.strip())
        found = (
            await s.matching.GetMatchRun(matching_pb2.GetMatchRunRequest(id=full), metadata=s.md)
        ).run
        planned = await s.matching.ListMatchAssignments(
            matching_pb2.ListMatchAssignmentsRequest(run_id=full, page_size=limit), metadata=s.md
        )
        return found, list(planned.assignments)

    found, planned = cli.call(go)

    def text() -> None:
        show_run(found)
        for a in planned:
            console.print(f"  task {a.task_id} ← member {a.member_id}: {escape(a.explanation)}")

    cli.emit({"run": found, "assignments": planned}, text)


def pair(value: str) -> tuple[str, str]:
    task, sep, member = value.partition(":")
    if not sep or not task or not member:
        raise click.BadParameter(f"{value!r} is not TASK:MEMBER")
    return task, member


@match.command(help="Pin or remove pairs of a draft, and plan it again.")
@click.argument("run_id")
@click.option("--pin", "pins", multiple=True, metavar="TASK:MEMBER", help="keep this pair")
@click.option("--remove", "removes", multiple=True, metavar="TASK:MEMBER", help="drop this pair")
@pass_cli
def edit(cli: Cli, run_id: str, pins: tuple[str, ...], removes: tuple[str, ...]) -> None:
    edits = [
        matching_pb2.DraftEdit(task_id=t, member_id=m, action=action)
        for values, action in (
            (removes, matching_pb2.DRAFT_EDIT_ACTION_REMOVE),
            (pins, matching_pb2.DRAFT_EDIT_ACTION_PIN),
        )
        for t, m in map(pair, values)
    ]

    async def go(s: Session) -> matching_pb2.MatchRun:
        full = await resolve_run(s, run_id.strip())
        req = matching_pb2.EditDraftRequest(run_id=full, edits=edits)
        return (await s.matching.EditDraft(req, metadata=s.md, timeout=180)).run

    found = cli.call(go)
    cli.emit({"run": found}, lambda: show_run(found))


@match.command(help="Publish a draft: propose its pairs.")
@click.argument("run_id")
@pass_cli
def publish(cli: Cli, run_id: str) -> None:
    async def go(s: Session) -> matching_pb2.MatchRun:
        full = await resolve_run(s, run_id.strip())
        req = matching_pb2.PublishDraftRequest(run_id=full)
        return (await s.matching.PublishDraft(req, metadata=s.md)).run

    found = cli.call(go)

    def text() -> None:
        show_run(found)
        console.print(f"published; {found.publish_skipped} pair(s) could no longer be proposed")

    cli.emit({"run": found}, text)
