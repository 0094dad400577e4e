"""Who may run, list and see what: scopes, runs, members' exact distances, suggestions.

Someone else's place and a place that does not exist are refused alike (the same code and
message); only those who may act anywhere learn which field names nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from services.common.auth import Principal, Role
from services.common.errors import (
    DomainError,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.matching.domain.rows import MemberRow, TaskRow
from services.matching.domain.runs import RunFilter, RunRecord
from services.matching.domain.scope import Scope


def street_of(communities: Mapping[str, str], scope: Scope) -> str | None:
    """The street a scope lies in ('' for the district); None when there is no such place."""
    if scope.kind == "district":
        return ""
    if scope.kind == "community":
        return communities.get(scope.id)
    return scope.id if scope.id in communities.values() else None


def authorize(principal: Principal, scope: Scope, communities: Mapping[str, str]) -> str:
    """The scope's street, when the caller may act on the scope (run matching, list its runs)."""
    street = street_of(communities, scope)
    denied = PermissionDenied(f"{scope.kind} {scope.id[:64] or 'district'!r} is outside your scope")
    if principal.is_everywhere:
        allowed = True
    elif scope.kind == "community":
        allowed = principal.holds(scope.id, street)
    elif scope.kind == "street":
        allowed = principal.role is Role.STREET_ADMIN and scope.id in principal.street_ids
    else:
        allowed = False
    if not allowed:
        raise denied
    if street is None:
        field = "community_id" if scope.kind == "community" else "street_id"
        raise InvalidArgument(FieldViolation(field, f"no such {scope.kind}"))
    return street


def run_refusal(
    principal: Principal, run_id: str, run: RunRecord | None, communities: Mapping[str, str]
) -> DomainError | None:
    """Why the caller may not see this run (None when they may): a run is seen by those who may
    act on its scope."""
    if run is None:
        if principal.is_everywhere:
            return NotFound("match run", run_id)
        return PermissionDenied("this run is outside your scope")
    if principal.is_everywhere:
        return None
    try:
        authorize(principal, Scope(run.scope_kind, run.scope_id), communities)
    except (PermissionDenied, InvalidArgument):
        return PermissionDenied("this run is outside your scope")
    return None


def runs_listed(principal: Principal, scope: Scope, communities: Mapping[str, str]) -> RunFilter:
    """The runs a listing covers. Without a filter, the runs of the caller's own scope (their
    communities, or their streets with the streets' communities)."""
    if scope.kind == "district" and not principal.is_everywhere:
        if principal.role is Role.MEMBER:
            raise PermissionDenied("members do not see matching runs")
        return RunFilter(
            communities=tuple(sorted(principal.community_ids)),
            streets=tuple(sorted(principal.street_ids))
            if principal.role is Role.STREET_ADMIN
            else (),
        )
    authorize(principal, scope, communities)
    return RunFilter(kind=None if scope.kind == "district" else scope.kind, scope_id=scope.id)


def sees_exactly(principal: Principal, m: MemberRow | None) -> bool:
    """Whether the caller may see this member's exact distances (as they may their home)."""
    if principal.is_everywhere:
        return True
    return (
        m is not None
        and principal.role is not Role.MEMBER
        and principal.holds(m.community_id, m.street_id)
    )


def sees_every_member(principal: Principal, run: RunRecord) -> bool:
    """Whether the caller may see exact distances of every member a run could plan: members of
    other communities take street-wide places in a community's run."""
    if principal.is_everywhere:
        return True
    return principal.role is Role.STREET_ADMIN and run.street_id in principal.street_ids


# -- suggestions -------------------------------------------------------------------------------

TASK_DENIED = "this task is outside your scope"


def may_suggest_members(principal: Principal) -> None:
    if principal.role is Role.MEMBER:
        raise PermissionDenied(TASK_DENIED)


def task_refusal(principal: Principal, task_id: str, t: TaskRow | None) -> DomainError | None:
    """Why the caller may not be suggested members for this task (None when they may)."""
    if t is None:
        return (
            NotFound("task", task_id) if principal.is_everywhere else PermissionDenied(TASK_DENIED)
        )
    if not principal.holds(t.community_id, t.street_id):
        return PermissionDenied(TASK_DENIED)
    return None


def whose_suggestions(principal: Principal, member_id: str) -> str:
    """The member whose tasks are suggested: a member asks for their own."""
    if principal.role is Role.MEMBER:
        if member_id and member_id != principal.subject:
            raise PermissionDenied("members ask for their own suggestions")
        return principal.subject
    if not member_id:
        raise InvalidArgument(FieldViolation("member_id", "is required"))
    return member_id


def member_refusal(principal: Principal, member_id: str, m: MemberRow | None) -> DomainError | None:
    """Why the caller may not be suggested tasks for this member (None when they may)."""
    if principal.role is Role.MEMBER or principal.is_everywhere:
        return NotFound("member", member_id) if m is None else None
    if m is None or not principal.holds(m.community_id, m.street_id):
        return PermissionDenied("this member is outside your scope")
    return None


def visible_tasks(principal: Principal) -> Callable[[TaskRow], bool]:
    """Which tasks may be suggested to this caller for a member. Staff are suggested only tasks
    they may see: another community's street-wide task is the member's to see, not theirs (its
    id answers them as a missing one would)."""
    if principal.role is Role.MEMBER or principal.is_everywhere:
        return lambda _t: True
    return lambda t: principal.holds(t.community_id, t.street_id)
