"""The main job on one street: a month played through the running services (dev/month.py),
then checked the way a district office would check it, and its report looked at in a browser."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import subprocess
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from dev import gen_district, month, month_registry
from linli.v1 import affairs_pb2, attendance_pb2, events_pb2, matching_pb2, registry_pb2, tasks_pb2
from services import report
from services.client import Stubs
from services.client.ledger import ledger_items
from services.common.clock import FileClock
from services.common.settings import Settings
from services.report.attendance import hours_given
from tests.e2e.conftest import System

pytestmark = pytest.mark.e2e
HELD = (
    tasks_pb2.ASSIGNMENT_STATE_ACCEPTED,
    tasks_pb2.ASSIGNMENT_STATE_COMPLETED,
    tasks_pb2.ASSIGNMENT_STATE_NO_SHOW,
)


@pytest.fixture(scope="module")
def played(
    system: System, tmp_path_factory: pytest.TempPathFactory
) -> tuple[month.Month, report.Data, Path]:
    district = gen_district.generate(seed=11, small=True)

    async def go() -> tuple[month.Month, report.Data]:
        m = await month.play(system.addresses(), district, FileClock(system.clock), seed=11)
        stubs = month.Stubs(system.addresses())
        try:
            data = await report.collect(
                stubs,
                month.Actors(Settings()).admin,
                m.run.id if m.run else None,
                until=m.started + timedelta(days=29),
            )
        finally:
            await stubs.close()
        return m, data

    m, data = asyncio.run(go())
    path = report.write(tmp_path_factory.mktemp("report") / "month.html", data, month.story(m))
    return m, data, path


def test_every_place_holds_at_most_its_headcount_and_one_member_once(
    played: tuple[month.Month, report.Data, Path],
) -> None:
    _, data, _ = played
    assert data.tasks
    for task in data.tasks:
        held = [a.member_id for a in data.assignments[task.id] if a.state in HELD]
        assert len(held) <= task.headcount, task.id
        assert len(held) == len(set(held)), task.id


def test_nobody_is_double_booked_or_planned_past_their_hours(
    played: tuple[month.Month, report.Data, Path],
) -> None:
    _, data, _ = played
    by_member: dict[str, list[tasks_pb2.Task]] = defaultdict(list)
    matched_hours: dict[str, float] = defaultdict(float)
    tasks = {t.id: t for t in data.tasks}
    for task in data.tasks:
        for a in data.assignments[task.id]:
            if a.state in HELD:
                by_member[a.member_id].append(task)
                if a.source == tasks_pb2.ASSIGNMENT_SOURCE_MATCHING:
                    matched_hours[a.member_id] += task.effort_hours
    for member_id, held in by_member.items():
        fixed = sorted(
            (t.window.start.ToDatetime(), t.window.end.ToDatetime())
            for t in held
            if not t.window.flexible
        )
        for (_, end), (start, _) in itertools.pairwise(fixed):
            assert start >= end, f"{member_id} holds overlapping tasks"
    offered = {m.id: m.hours_per_month for ms in data.members.values() for m in ms}
    for member_id, hours in matched_hours.items():
        assert hours <= offered[member_id] + 1e-9, member_id
    assert tasks  # the month had work in it


def test_declined_and_expired_places_were_offered_again(
    played: tuple[month.Month, report.Data, Path],
) -> None:
    m, data, _ = played
    assert m.answers["declined"] > 0 and m.reoffered > 0
    freed = (tasks_pb2.ASSIGNMENT_STATE_DECLINED, tasks_pb2.ASSIGNMENT_STATE_EXPIRED)
    reoffered = 0
    for task in data.tasks:
        assignments = data.assignments[task.id]
        for gone in (a for a in assignments if a.state in freed and a.match_run_id):
            # A proposal to someone else, made after this one ended, for the same task.
            ended = gone.update_time.ToDatetime()
            reoffered += any(
                a.member_id != gone.member_id
                and a.match_run_id == gone.match_run_id
                and a.create_time.ToDatetime() >= ended
                for a in assignments
            )
    assert reoffered > 0


def test_members_confirmed_or_released_and_released_places_went_to_the_standby_lists(
    played: tuple[month.Month, report.Data, Path],
) -> None:
    m, data, _ = played
    assert m.confirmed > 0 and m.standby_joined > 0, month.story(m)
    released = [
        a
        for task in data.tasks
        for a in data.assignments[task.id]
        if a.state == tasks_pb2.ASSIGNMENT_STATE_WITHDRAWN and a.reason == "released"
    ]
    assert len(released) == m.released
    from_standby = [
        a
        for task in data.tasks
        for a in data.assignments[task.id]
        if a.source == tasks_pb2.ASSIGNMENT_SOURCE_STANDBY
    ]
    # Every place taken from a standby list was one freed on a task somebody waited on.
    assert len({a.id for a in from_standby}) >= m.standby_filled


def test_confirmed_hours_became_points_and_some_were_redeemed(
    played: tuple[month.Month, report.Data, Path],
) -> None:
    m, data, _ = played
    community_of = {t.id: t.community_id for t in data.tasks}
    earning = {
        community_of[r.task_id]
        for r in data.hours_records
        if r.state == attendance_pb2.HOURS_RECORD_STATE_CONFIRMED
        and r.minutes > 0
        and r.task_id in community_of
    }
    points = {p.community_id: p for p in data.points}
    assert earning, month.story(m)
    # Every community whose staff confirmed hours issued points from its account.
    assert all(points[c].issued > 0 for c in earning), (earning, points)
    for p in points.values():
        assert p.outstanding == p.issued - p.redeemed - p.reset
    assert m.redeemed > 0 and sum(p.redeemed for p in points.values()) > 0


def test_the_month_matched_a_complete_read_model_and_left_no_polling_runs(
    played: tuple[month.Month, report.Data, Path], system: System
) -> None:
    m, data, _ = played
    assert m.run is not None
    # The district run saw every member and every task still open, not a part of them.
    assert m.run.members == sum(len(ms) for ms in data.members.values())
    assert m.run.tasks >= m.wishes - m.claimed

    async def runs() -> list[matching_pb2.MatchRun]:
        async with Stubs(system.addresses()) as stubs:
            return list(
                (
                    await stubs.matching.ListMatchRuns(
                        matching_pb2.ListMatchRunsRequest(page_size=1000),
                        metadata=month.Actors(Settings()).admin,
                    )
                ).runs
            )

    before = [
        r
        for r in asyncio.run(runs())
        if r.create_time.ToDatetime() < m.run.create_time.ToDatetime()
    ]
    assert not [r for r in before if r.dry_run], "waiting for the read model recorded dry runs"


def test_the_services_agree_on_what_happened(
    played: tuple[month.Month, report.Data, Path], system: System
) -> None:
    m, data, _ = played
    # The matching service planned from the same members the registry holds.
    assert m.run is not None
    members = sum(len(ms) for ms in data.members.values())
    assert m.run.members == members
    # The hours the month logged are the hours the task service's records hold.
    completed = sum(
        a.hours
        for group in data.assignments.values()
        for a in group
        if a.state == tasks_pb2.ASSIGNMENT_STATE_COMPLETED
    )
    assert abs(completed - m.hours) < 1e-6
    # Every proposal the run made reached the task service as an assignment of that run.
    from_run = {
        (a.task_id, a.member_id)
        for group in data.assignments.values()
        for a in group
        if a.match_run_id == m.run.id
    }
    assert {(p.task_id, p.member_id) for p in data.planned} <= from_run

    async def records() -> list[float]:
        stubs = month.Stubs(system.addresses())
        actors = month.Actors(Settings())
        try:
            # A task's hours are its confirmed hours records' where staff confirmed them.
            worked: defaultdict[str, float] = defaultdict(float)
            for by_member in hours_given(data).values():
                for member_id, h in by_member.items():
                    worked[member_id] += h
            sample = sorted(worked)[:20]
            got = [
                (
                    await stubs.tasks.GetMemberRecord(
                        tasks_pb2.GetMemberRecordRequest(member_id=mid), metadata=actors.admin
                    )
                ).record.hours_total
                for mid in sample
            ]
            return [g - worked[mid] for g, mid in zip(got, sample, strict=True)]
        finally:
            await stubs.close()

    assert all(abs(d) < 1e-6 for d in asyncio.run(records()))


def test_the_report_has_the_map_and_the_tables(
    played: tuple[month.Month, report.Data, Path],
) -> None:
    _, _, path = played
    page = path.read_text(encoding="utf-8")
    assert '<svg id="map"' in page and 'class="task' in page
    tables = ('class="communities"', 'class="unfilled"', 'class="run"', 'class="story"')
    for table in (*tables, 'class="ledger"'):
        assert table in page
    assert (
        "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
        and "https://" not in page
    )  # self-contained: nothing to fetch


def test_members_checked_in_on_site_and_staff_confirmed_their_hours(
    played: tuple[month.Month, report.Data, Path],
) -> None:
    _, data, path = played
    confirmed = [
        r for r in data.hours_records if r.state == attendance_pb2.HOURS_RECORD_STATE_CONFIRMED
    ]
    evidence = {r.evidence for r in confirmed}
    assert {
        events_pb2.HOURS_EVIDENCE_CODE_AND_PLACE,
        events_pb2.HOURS_EVIDENCE_STAFF_WORD,  # a correction, and a request approved
    } <= evidence
    assert any(r.supersedes_record_id for r in confirmed)  # one corrected, with its reason
    assert 'class="evidence"' in path.read_text(encoding="utf-8")


def test_the_ledger_figures_agree_with_the_items_and_tell_the_months_story(
    played: tuple[month.Month, report.Data, Path], system: System
) -> None:
    _, data, _ = played
    assert data.ledger is not None

    async def read() -> tuple[list[affairs_pb2.Item], affairs_pb2.GetLedgerFiguresResponse]:
        stubs = month.Stubs(system.addresses())
        admin = month.Actors(Settings()).admin
        try:
            items = await ledger_items(stubs, admin, affairs_pb2.ListItemsRequest())
            figures = await stubs.affairs.GetLedgerFigures(
                affairs_pb2.GetLedgerFiguresRequest(), metadata=admin
            )
            linked = [i for i in items if i.task_ids]
            evidence = [
                (
                    await stubs.affairs.GetItem(affairs_pb2.GetItemRequest(id=i.id), metadata=admin)
                ).item.history
                for i in linked
            ]
        finally:
            await stubs.close()
        assert linked and all(any(e.action == "task_completed" for e in h) for h in evidence)
        return items, figures

    items, figures = asyncio.run(read())
    closed = [i for i in items if i.stage == affairs_pb2.ITEM_STAGE_CLOSED]
    answers = sum(i.reopened for i in items) + len(closed)
    days = sorted(
        (i.close_time.ToDatetime() - i.create_time.ToDatetime()).total_seconds() / 86_400
        for i in closed
    )
    mid = len(days) // 2
    median = days[mid] if len(days) % 2 else (days[mid - 1] + days[mid]) / 2
    total = figures.total
    assert data.ledger.total.raised == total.raised == len(items)
    assert total.solved_in_community == sum(1 for i in closed if not i.escalated)
    assert total.escalated == sum(1 for i in items if i.escalated)
    assert total.solved_in_street == sum(1 for i in closed if i.escalated)
    assert total.overdue == sum(1 for i in items if i.ever_overdue)
    assert total.satisfaction_rate == pytest.approx(len(closed) / answers, abs=1e-4)
    assert total.median_days_to_close == pytest.approx(median, abs=0.01)
    for f in figures.communities:
        assert f.raised == sum(1 for i in items if i.community_id == f.scope_id)
    # The month's story: most solved in the community, some through the street with a unit,
    # the heating pipes by consultation, one reopened, one gathered into another, one overdue.
    assert total.solved_in_community > total.solved_in_street > 0
    assert any(i.consultations for i in closed)
    assert any(i.reopened for i in closed)
    assert any(i.stage == affairs_pb2.ITEM_STAGE_MERGED for i in items)
    assert total.overdue >= 1


def test_the_report_renders_its_map_in_a_browser(
    played: tuple[month.Month, report.Data, Path],
    tmp_path: Path,
) -> None:
    _, _, path = played
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip(
            "NO BROWSER: Debian's chromium is not installed (make browser installs it); "
            "the report was not looked at"
        )
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--hide-scrollbars",
            "--window-size=1280,1600",
            f"--screenshot={shot}",
            path.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    image = Image.open(shot).convert("RGB")
    width, height = image.size
    # The map's marks: green (filled), amber (partly), red (unfilled) dots and squares.
    colours = {(0x2E, 0x7D, 0x32): 0, (0xF9, 0xA8, 0x25): 0, (0xC6, 0x28, 0x28): 0}
    for pixel in image.getdata():
        for c in colours:
            if all(abs(a - b) < 12 for a, b in zip(pixel, c, strict=True)):
                colours[c] += 1
    assert sum(colours.values()) > 200, colours  # marks were drawn
    assert colours[(0x2E, 0x7D, 0x32)] > 50  # filled places show
    assert (width, height) == (1280, 1600)


def test_a_dry_run_afterwards_still_plans(system: System, played: object) -> None:
    async def go() -> matching_pb2.MatchRun:
        stubs = month.Stubs(system.addresses())
        try:
            return (
                await stubs.matching.RunMatching(
                    matching_pb2.RunMatchingRequest(dry_run=True),
                    metadata=month.Actors(Settings()).admin,
                )
            ).run
        finally:
            await stubs.close()

    run = asyncio.run(go())
    assert run.state == matching_pb2.MATCH_RUN_STATE_SUCCEEDED and run.dry_run


def test_newcomers_were_accepted_by_their_staff_and_certificates_ended_on_time(
    played: tuple[month.Month, report.Data, Path],
) -> None:
    m, data, _ = played
    assert m.standing["report-ins accepted"] == month_registry.NEWCOMERS
    assert m.standing["report-ins refused"] == 1
    everyone = [x for ms in data.members.values() for x in ms]
    newcomers = [x for x in everyone if x.phone.startswith(month_registry.NEWCOMER_PHONE[:5])]
    assert len(newcomers) == month_registry.NEWCOMERS
    assert {x.report_in_state for x in newcomers} == {registry_pb2.REPORT_IN_STATE_ACCEPTED}
    assert m.standing["certificates verified"] >= 1
    verified = {s.skill for x in everyone for s in x.skills if s.verified}
    # The driver's certificate expired within the month; the others hold.
    assert "driving" not in verified
    assert verified <= {"medical", "legal_advice", "repair_electrical"}
    assert len(verified) == m.standing["certificates verified"] - (
        1 if any(s.skill == "driving" for x in everyone for s in x.skills) else 0
    )
