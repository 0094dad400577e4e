"""Rows of the task service's tables to domain records and back."""

from __future__ import annotations

import json
from datetime import date, datetime

import asyncpg

from services.common.values import Beneficiary, LatLng, TimeWindow
from services.tasks.domain import (
    Assignment,
    AssignmentSource,
    AssignmentState,
    NoAnswerPolicy,
    OneOffSchedule,
    RequiredSkill,
    RoleDraft,
    Task,
    TaskKind,
    TaskStatus,
    VolunteerRole,
    WeeklySchedule,
    Wish,
    WishDraft,
)


def skills_json(skills: tuple[RequiredSkill, ...]) -> str:
    return json.dumps([{"skill": s.skill, "min_level": s.min_level} for s in skills])


def proven_skills(raw: str) -> frozenset[str]:
    """The verified skills in a member's read-model row (rows from before verification have
    no such flag: nothing was verified then)."""
    return frozenset(s["skill"] for s in json.loads(raw) if s.get("verified"))


def _skills(raw: str) -> tuple[RequiredSkill, ...]:
    return tuple(RequiredSkill(s["skill"], s["min_level"]) for s in json.loads(raw))


def task_from_record(r: asyncpg.Record) -> Task:
    return Task(
        id=str(r["id"]),
        kind=TaskKind(r["kind"]),
        source_id=str(r["source_id"]),
        community_id=r["community_id"],
        street_id=r["street_id"],
        street_wide=r["street_wide"],
        title=r["title"],
        description=r["description"],
        beneficiary=Beneficiary(r["beneficiary"]),
        location=LatLng(r["lat"], r["lng"]),
        address=r["address"],
        skills=_skills(r["skills"]),
        headcount=r["headcount"],
        places_taken=r["places_taken"],
        accepted=r["accepted"],
        window=TimeWindow(r["window_start"], r["window_end"], r["flexible"]),
        effort_hours=r["effort_hours"],
        status=TaskStatus(r["status"]),
        cancel_reason=r["cancel_reason"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        distance_m=r.get("distance_m", 0.0),
        revision=r["revision"],
        empty_alerted_at=r["empty_alerted_at"],
        unit_id=r["unit_id"],
        team=r["team"],
        overbook_cap=r["overbook_cap"],
    )


def assignment_from_record(r: asyncpg.Record) -> Assignment:
    return Assignment(
        id=str(r["id"]),
        task_id=str(r["task_id"]),
        member_id=str(r["member_id"]),
        state=AssignmentState(r["state"]),
        source=AssignmentSource(r["source"]),
        expires_at=r["expires_at"],
        match_run_id=r["match_run_id"],
        hours=r["hours"],
        reason=r["reason"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        served_at=r["served_at"],
        confirm_requested_at=r["confirm_requested_at"],
        answer_by=r["answer_by"],
        confirmed_at=r["confirmed_at"],
        overdue_at=r["overdue_at"],
    )


def schedule_json(schedule: WeeklySchedule | OneOffSchedule | None) -> str:
    if isinstance(schedule, WeeklySchedule):
        return json.dumps(
            {
                "weekly": {
                    "days": list(schedule.days),
                    "start": schedule.start_minute,
                    "end": schedule.end_minute,
                    "first": schedule.first_date.isoformat() if schedule.first_date else None,
                    "last": schedule.last_date.isoformat() if schedule.last_date else None,
                }
            }
        )
    assert isinstance(schedule, OneOffSchedule) and schedule.window is not None
    return json.dumps(
        {
            "once": {
                "start": schedule.window.start.isoformat(),
                "end": schedule.window.end.isoformat(),
            }
        }
    )


def _schedule(raw: str) -> WeeklySchedule | OneOffSchedule:
    data = json.loads(raw)
    if "weekly" in data:
        w = data["weekly"]
        return WeeklySchedule(
            tuple(w["days"]),
            w["start"],
            w["end"],
            date.fromisoformat(w["first"]) if w["first"] else None,
            date.fromisoformat(w["last"]) if w["last"] else None,
        )
    o = data["once"]
    return OneOffSchedule(
        TimeWindow(datetime.fromisoformat(o["start"]), datetime.fromisoformat(o["end"]))
    )


def role_from_record(r: asyncpg.Record) -> VolunteerRole:
    draft = RoleDraft(
        community_id=r["community_id"],
        unit_id=r["unit_id"],
        title=r["title"],
        description=r["description"],
        beneficiary=Beneficiary(r["beneficiary"]),
        location=LatLng(r["lat"], r["lng"]),
        skills=_skills(r["skills"]),
        headcount=r["headcount"],
        effort_hours=r["effort_hours"],
        schedule=_schedule(r["schedule"]),
        street_wide=r["street_wide"],
        no_answer=NoAnswerPolicy(r["no_answer"]) if r["no_answer"] else None,
        team=r["team"],
        overbook_cap=r["overbook_cap"],
    )
    return VolunteerRole(str(r["id"]), draft, r["ended_at"] is not None, r["created_at"])


def wish_from_record(r: asyncpg.Record) -> Wish:
    draft = WishDraft(
        community_id=r["community_id"],
        title=r["title"],
        description=r["description"],
        beneficiary=Beneficiary(r["beneficiary"]),
        location=LatLng(r["lat"], r["lng"]),
        address=r["address"],
        skills=_skills(r["skills"]),
        headcount=r["headcount"],
        window=TimeWindow(r["window_start"], r["window_end"], r["flexible"]),
        effort_hours=r["effort_hours"],
        team=r["team"],
    )
    return Wish(str(r["id"]), draft, str(r["task_id"]), r["created_at"])
