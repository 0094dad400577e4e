"""Proto <-> domain for the matching service: requests into scopes, weights and methods; events
into read model rows; runs, assignments, empty places and suggestions into protos."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from linli.v1 import matching_pb2 as pb
from linli.v1 import registry_pb2, tasks_pb2
from services.common.errors import FieldViolation, InvalidArgument
from services.common.protoconv import (
    ASSIGNMENT_STATE_WORDS,
    BENEFICIARY_FROM_PROTO,
    TASK_STATUS_WORDS,
    report_in_accepted,
    time_from_proto,
    ts,
    usable_skills,
)
from services.common.values import Beneficiary, WeeklyWindow
from services.matching.domain.rows import AssignmentRow, MemberRow, TaskRow, slot_of
from services.matching.domain.runs import RunRecord, UnfilledPlace
from services.matching.domain.scope import Scope
from services.matching.domain.suggestions import Suggestion
from services.matching.domain.views import ShownAssignment
from services.matching.solver.model import Weights

METHOD_NAMES: dict[int, str] = {
    pb.MATCH_METHOD_UNSPECIFIED: "auto",
    pb.MATCH_METHOD_AUTO: "auto",
    pb.MATCH_METHOD_FLOW: "flow",
    pb.MATCH_METHOD_GREEDY: "greedy",
    pb.MATCH_METHOD_FCFS: "fcfs",
    pb.MATCH_METHOD_CPSAT: "cpsat",
}
METHOD_ENUMS = {
    "auto": pb.MATCH_METHOD_AUTO,
    "flow": pb.MATCH_METHOD_FLOW,
    "greedy": pb.MATCH_METHOD_GREEDY,
    "fcfs": pb.MATCH_METHOD_FCFS,
    "cpsat": pb.MATCH_METHOD_CPSAT,
}
STATES = {
    "running": pb.MATCH_RUN_STATE_RUNNING,
    "succeeded": pb.MATCH_RUN_STATE_SUCCEEDED,
    "failed": pb.MATCH_RUN_STATE_FAILED,
    "draft": pb.MATCH_RUN_STATE_DRAFT,
}
DRAFT_ACTIONS = {pb.DRAFT_EDIT_ACTION_PIN: "pin", pb.DRAFT_EDIT_ACTION_REMOVE: "remove"}

# Ids of the organisation are short printable text; anything else names nothing (and is not
# echoed back at length).
MAX_ID_LENGTH = 64


# -- requests ------------------------------------------------------------------------------------


def text_id(value: str, field: str) -> str:
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidArgument(
            FieldViolation(field, f"must be at most {MAX_ID_LENGTH} printable characters")
        )
    return value


def uuid_id(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(FieldViolation(field, "is required"))
    try:
        return str(uuid.UUID(value[:64]))
    except ValueError:
        raise InvalidArgument(FieldViolation(field, "is not a valid id")) from None


def scope_of(community_id: str, street_id: str) -> Scope:
    text_id(community_id, "community_id")
    text_id(street_id, "street_id")
    if community_id and street_id:
        raise InvalidArgument(FieldViolation("street_id", "give a community or a street, not both"))
    if community_id:
        return Scope("community", community_id)
    if street_id:
        return Scope("street", street_id)
    return Scope("district")


def weights(w: pb.MatchWeights) -> Weights:
    base = Weights()
    return Weights(
        **{
            name: getattr(w, name) if w.HasField(name) else getattr(base, name)  # type: ignore[arg-type]
            for name in base.__dict__
        }
    )


def draft_edits(edits: Sequence[pb.DraftEdit]) -> list[tuple[str, str, str]]:
    """(task, member, "pin" | "remove") per edit, each field checked and named."""
    out = []
    for k, e in enumerate(edits):
        if e.action not in DRAFT_ACTIONS:
            raise InvalidArgument(FieldViolation(f"edits[{k}].action", "must be PIN or REMOVE"))
        out.append(
            (
                uuid_id(e.task_id, f"edits[{k}].task_id"),
                uuid_id(e.member_id, f"edits[{k}].member_id"),
                DRAFT_ACTIONS[e.action],
            )
        )
    return out


def method(value: int) -> str:
    if value not in METHOD_NAMES:
        raise InvalidArgument(FieldViolation("method", "is not a known MatchMethod"))
    return METHOD_NAMES[value]


# -- events into the read model ------------------------------------------------------------------


def member_row(m: registry_pb2.Member) -> tuple[MemberRow, datetime]:
    """The member as the read model keeps it, and its version (its street is looked up)."""
    home = m.HasField("home")
    return (
        MemberRow(
            id=m.id,
            community_id=m.community_id or None,
            street_id=None,
            active=m.status == registry_pb2.MEMBER_STATUS_ACTIVE,
            reported_in=report_in_accepted(m),
            lat=m.home.latitude if home else None,
            lng=m.home.longitude if home else None,
            skills=usable_skills(m),
            availability=tuple(
                WeeklyWindow(w.day, w.start_minute, w.end_minute) for w in m.availability
            ),
            hours_per_month=m.hours_per_month,
            unit_id=m.unit_id,
        ),
        time_from_proto(m.update_time),
    )


def task_slot(t: tasks_pb2.Task) -> str:
    """A role occurrence's weekly slot; none for a wish."""
    if t.kind != tasks_pb2.TASK_KIND_ROLE_OCCURRENCE or not t.source_id:
        return ""
    return slot_of(t.source_id[:MAX_ID_LENGTH], time_from_proto(t.window.start))


def task_row(t: tasks_pb2.Task) -> tuple[TaskRow, datetime]:
    return (
        TaskRow(
            id=t.id,
            community_id=t.community_id,
            street_id=t.street_id,
            street_wide=t.street_wide,
            lat=t.location.latitude,
            lng=t.location.longitude,
            skills=tuple((s.skill, s.min_level) for s in t.skills),
            headcount=t.headcount,
            places_taken=t.places_taken,
            start=time_from_proto(t.window.start),
            end=time_from_proto(t.window.end),
            flexible=t.window.flexible,
            effort_hours=t.effort_hours,
            beneficiary=BENEFICIARY_FROM_PROTO.get(t.beneficiary_group, Beneficiary.OTHER).value,
            status=TASK_STATUS_WORDS.get(t.status, "open"),
            posted_at=time_from_proto(t.create_time),
            slot=task_slot(t),
            team=t.team,
            unit_id=t.unit_id[:MAX_ID_LENGTH],
            overbook_cap=max(0, t.overbook_cap),
        ),
        time_from_proto(t.update_time),
    )


def assignment_row(a: tasks_pb2.Assignment, t: tasks_pb2.Task) -> tuple[AssignmentRow, datetime]:
    """The assignment, with its task's window and effort."""
    return (
        AssignmentRow(
            assignment_id=a.id,
            member_id=a.member_id,
            task_id=a.task_id,
            state=ASSIGNMENT_STATE_WORDS.get(a.state, "proposed"),
            start=time_from_proto(t.window.start),
            end=time_from_proto(t.window.end),
            flexible=t.window.flexible,
            effort_hours=t.effort_hours,
            hours=a.hours,
            slot=task_slot(t),
        ),
        time_from_proto(a.update_time),
    )


# -- replies -------------------------------------------------------------------------------------

INT_FIGURES = (
    "members",
    "tasks",
    "places",
    "candidate_pairs",
    "components",
    "places_filled",
    "members_used",
    "most_places",
    "fcfs_places_filled",
    "slot_weeks",
    "slot_weeks_usual",
    "team_tasks",
    "team_tasks_staffed",
    "team_tasks_covered",
    "event_headcount",
    "event_planned",
    "changed_pairs",
    "pinned_pairs",
    "publish_skipped",
)
FLOAT_FIGURES = (
    "load_s",
    "candidates_s",
    "solve_s",
    "write_s",
    "objective",
    "bound",
    "gap",
    "mean_distance_m",
    "p95_distance_m",
    "hours_stdev",
    "fcfs_objective",
    "rota_stability",
    "expected_attendance",
    "base_objective",
)


def run_to_proto(r: RunRecord) -> pb.MatchRun:
    """A run with the figures the caller may see (views.shown_run)."""
    f = r.figures
    out = pb.MatchRun(
        id=r.id,
        scope_kind=r.scope_kind,
        scope_id=r.scope_id,
        state=STATES[r.state],
        dry_run=r.dry_run,
        method=METHOD_ENUMS.get(r.method, pb.MATCH_METHOD_UNSPECIFIED),
        error=r.error,
        requested_by=r.requested_by,
        create_time=ts(r.created_at),
        finish_time=ts(r.finished_at),
        filled_by_group=[
            pb.GroupFill(group=g, filled=v[0], places=v[1])
            for g, v in f.get("filled_by_group", {}).items()
        ],
        solver_status=f.get("solver_status") or "",
    )
    published = ts(r.published_at)
    if published is not None:
        out.publish_time.CopyFrom(published)
    for name in INT_FIGURES:
        setattr(out, name, int(f.get(name) or 0))
    for name in FLOAT_FIGURES:
        setattr(out, name, float(f.get(name) or 0.0))
    return out


def assignment_to_proto(a: ShownAssignment) -> pb.MatchAssignment:
    return pb.MatchAssignment(
        run_id=a.run_id,
        task_id=a.task_id,
        member_id=a.member_id,
        score=a.score,
        distance_m=a.distance_m,
        explanation=a.explanation,
        alternatives=[
            pb.Alternative(
                member_id=x.member_id, score=x.score, distance_m=x.distance_m, status=x.status
            )
            for x in a.alternatives
        ],
        covers=list(a.covers),
        pinned=a.pinned,
    )


def unfilled_to_proto(run_id: str, u: UnfilledPlace) -> pb.UnfilledPlace:
    return pb.UnfilledPlace(
        run_id=run_id,
        task_id=u.task_id,
        places=u.places,
        reason=u.reason,
        explanation=u.explanation,
        candidates=u.candidates,
    )


def member_suggestion(s: Suggestion) -> pb.MemberSuggestion:
    member_id, score, distance, why = s
    return pb.MemberSuggestion(member_id=member_id, score=score, distance_m=distance, reason=why)


def task_suggestion(s: Suggestion) -> pb.TaskSuggestion:
    task_id, score, distance, why = s
    return pb.TaskSuggestion(task_id=task_id, score=score, distance_m=distance, reason=why)


def member_export(
    member: MemberRow | None, held: list[AssignmentRow], pending: list[str], refused: list[str]
) -> dict[str, Any]:
    """The matching service's sections of a member's export."""
    return {
        "member": None
        if member is None
        else {
            "community_id": member.community_id,
            "street_id": member.street_id,
            "active": member.active,
            "reported_in": member.reported_in,
            "home": None
            if member.lat is None
            else {"latitude": member.lat, "longitude": member.lng},
            "skills": member.skills,
            "availability": [[w.day, w.start, w.end] for w in member.availability],
            "hours_per_month": member.hours_per_month,
        },
        "assignments": [
            {
                "assignment_id": a.assignment_id,
                "task_id": a.task_id,
                "state": a.state,
                "start": a.start,
                "end": a.end,
                "hours": a.hours,
            }
            for a in held
        ],
        "proposals_pending": pending,
        "tasks_refused": refused,
    }
