"""Rows of the matching schema <-> the domain's values."""

from __future__ import annotations

import json

import asyncpg

from services.common.values import WeeklyWindow
from services.matching.domain.rows import AssignmentRow, MemberRow, TaskRow
from services.matching.domain.runs import PlannedAssignment, RunRecord, UnfilledPlace


def member_row(r: asyncpg.Record) -> MemberRow:
    return MemberRow(
        id=str(r["id"]),
        community_id=r["community_id"],
        street_id=r["street_id"],
        active=r["active"],
        reported_in=r["reported_in"],
        lat=r["lat"],
        lng=r["lng"],
        skills=json.loads(r["skills"]),
        availability=tuple(WeeklyWindow(*w) for w in json.loads(r["availability"])),
        hours_per_month=r["hours_per_month"],
        unit_id=r["unit_id"],
    )


def task_row(r: asyncpg.Record) -> TaskRow:
    return TaskRow(
        id=str(r["id"]),
        community_id=r["community_id"],
        street_id=r["street_id"],
        street_wide=r["street_wide"],
        lat=r["lat"],
        lng=r["lng"],
        skills=tuple((s, lvl) for s, lvl in json.loads(r["skills"])),
        headcount=r["headcount"],
        places_taken=r["places_taken"],
        start=r["window_start"],
        end=r["window_end"],
        flexible=r["flexible"],
        effort_hours=r["effort_hours"],
        beneficiary=r["beneficiary"],
        status=r["status"],
        posted_at=r["posted_at"],
        slot=r["slot"],
        team=r["team"],
        unit_id=r["unit_id"],
        overbook_cap=r["overbook_cap"],
    )


def assignment_row(r: asyncpg.Record) -> AssignmentRow:
    return AssignmentRow(
        assignment_id=str(r["assignment_id"]),
        member_id=str(r["member_id"]),
        task_id=str(r["task_id"]),
        state=r["state"],
        start=r["window_start"],
        end=r["window_end"],
        flexible=r["flexible"],
        effort_hours=r["effort_hours"],
        hours=r["hours"],
        slot=r["slot"],
    )


def skills_json(m: MemberRow) -> str:
    return json.dumps(m.skills)


def availability_json(m: MemberRow) -> str:
    return json.dumps([[w.day, w.start, w.end] for w in m.availability])


def task_skills_json(t: TaskRow) -> str:
    return json.dumps([[s, level] for s, level in t.skills])


def run_record(r: asyncpg.Record) -> RunRecord:
    return RunRecord(
        id=str(r["id"]),
        scope_kind=r["scope_kind"],
        scope_id=r["scope_id"],
        street_id=r["street_id"],
        state=r["state"],
        dry_run=r["dry_run"],
        method=r["method"],
        requested_by=r["requested_by"],
        created_at=r["created_at"],
        figures=json.loads(r["figures"]),
        error=r["error"],
        finished_at=r["finished_at"],
        published_at=r["published_at"],
    )


def planned_assignment(r: asyncpg.Record) -> PlannedAssignment:
    return PlannedAssignment(
        position=r["position"],
        task_id=str(r["task_id"]),
        member_id=str(r["member_id"]),
        score=r["score"],
        distance_m=r["distance_m"],
        explanation=r["explanation"],
        alternatives=json.loads(r["alternatives"]),
        public_distance_m=r["public_distance_m"],
        facts=json.loads(r["facts"]),
    )


def unfilled_place(r: asyncpg.Record) -> UnfilledPlace:
    return UnfilledPlace(
        position=r["position"],
        task_id=str(r["task_id"]),
        places=r["places"],
        reason=r["reason"],
        candidates=r["candidates"],
    )
