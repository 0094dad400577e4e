"""A member's rules: what a valid member is, who may see them, and each change of one (state in,
new state and its domain event out, or a domain error).

Pure functions and values, no I/O. Validation collects every bad field and raises one
InvalidArgument naming them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from services.common.auth import Principal, Role
from services.common.checks import Violations, check_location, check_name
from services.common.settings import Bounds
from services.common.skills import SKILL_CODES
from services.common.values import LatLng, WeeklyWindow
from services.registry.domain.errors import member_deactivated
from services.registry.domain.org import Placement, check_org_id

REASON_MAX = 200
HOURS_MAX = 200
SKILLS_MAX = 20
WINDOWS_MAX = 28
LEVEL_MIN, LEVEL_MAX = 1, 3

# Used with fullmatch and ASCII digits: `$` lets a final newline through, `\d` any script's digits.
PHONE_RE = re.compile(r"1[3-9][0-9]{9}")

# Fields UpdateMember may change; the rest are set by report-in, deactivation or the server.
UPDATABLE = frozenset(
    {"name", "phone", "home", "unit_id", "skills", "availability", "hours_per_month"}
)


@dataclass(frozen=True)
class MemberData:
    """What a caller may set on a member (registration or update)."""

    name: str
    phone: str
    home: LatLng | None
    unit_id: str | None
    skills: tuple[tuple[str, int], ...]
    availability: tuple[WeeklyWindow, ...]
    hours_per_month: int
    community_id: str | None = None
    grid_id: str | None = None
    building_group_id: str | None = None


class ReportInState(StrEnum):
    """Where a member's report-in to their community stands."""

    NONE = "none"  # no community yet
    PENDING = "pending"  # reported in; the community's staff have not decided
    ACCEPTED = "accepted"
    REFUSED = "refused"


@dataclass(frozen=True)
class Verification:
    """A certificate staff checked for a skill that needs proof."""

    skill: str
    certificate_number: str
    expires_at: datetime
    reminded: bool = False  # CertificateExpiring was sent for it


@dataclass(frozen=True)
class Member:
    id: str
    data: MemberData
    active: bool
    street_id: str | None
    reported_in_at: datetime | None
    created_at: datetime
    updated_at: datetime
    deactivation_reason: str = ""
    report_in: ReportInState = ReportInState.NONE
    report_in_reason: str = ""  # why it was refused
    report_in_decided_at: datetime | None = None
    verifications: tuple[Verification, ...] = ()

    def verified(self, skill: str) -> Verification | None:
        return next((v for v in self.verifications if v.skill == skill), None)


def check_phone(v: Violations, field_name: str, value: str) -> str:
    value = value.strip().replace(" ", "").replace("-", "")
    if value.startswith("+86"):
        value = value[3:]
    if not PHONE_RE.fullmatch(value):
        v.add(field_name, "must be a mainland mobile number: 11 digits starting with 13-19")
    return value


def check_skills(v: Violations, field_name: str, skills: tuple[tuple[str, int], ...]) -> None:
    if len(skills) > SKILLS_MAX:
        v.add(field_name, f"at most {SKILLS_MAX} skills")
    seen: set[str] = set()
    for i, (code, level) in enumerate(skills):
        if code not in SKILL_CODES:
            v.add(f"{field_name}[{i}].skill", f"unknown skill {code[:40]!r} (see ListSkills)")
        elif code in seen:
            v.add(f"{field_name}[{i}].skill", f"{code!r} appears twice")
        seen.add(code)
        if not LEVEL_MIN <= level <= LEVEL_MAX:
            v.add(f"{field_name}[{i}].level", f"must be {LEVEL_MIN} to {LEVEL_MAX} (got {level})")


def check_availability(v: Violations, field_name: str, windows: tuple[WeeklyWindow, ...]) -> None:
    if len(windows) > WINDOWS_MAX:
        v.add(field_name, f"at most {WINDOWS_MAX} windows")
    well_formed: list[tuple[int, WeeklyWindow]] = []
    for i, w in enumerate(windows):
        ok = True
        if not 1 <= w.day <= 7:
            v.add(f"{field_name}[{i}].day", "must be a day of the week")
            ok = False
        if not 0 <= w.start <= 1439:
            v.add(f"{field_name}[{i}].start_minute", f"must be 0 to 1439 (got {w.start})")
            ok = False
        if not w.start < w.end <= 1440:
            v.add(
                f"{field_name}[{i}].end_minute",
                f"must be after start_minute and at most 1440 (got {w.end})",
            )
            ok = False
        if ok:
            well_formed.append((i, w))
    well_formed.sort(key=lambda iw: (iw[1].day, iw[1].start))
    reach: dict[int, int] = {}  # per day, the latest end of the windows seen so far
    for j, w in well_formed:
        if w.start < reach.get(w.day, -1):
            v.add(f"{field_name}[{j}]", "overlaps another window on the same day")
        reach[w.day] = max(reach.get(w.day, -1), w.end)


def check_hours(v: Violations, field_name: str, hours: int) -> None:
    if not 0 <= hours <= HOURS_MAX:
        v.add(field_name, f"must be 0 to {HOURS_MAX} hours a month (got {hours})")


def validate_member(data: MemberData, bounds: Bounds, prefix: str = "member.") -> MemberData:
    """Check every field; return the data with text cleaned. Raises InvalidArgument."""
    v = Violations(prefix)
    name = check_name(v, "name", data.name)
    phone = check_phone(v, "phone", data.phone)
    check_location(v, "home", data.home, bounds)
    check_skills(v, "skills", data.skills)
    check_availability(v, "availability", data.availability)
    check_hours(v, "hours_per_month", data.hours_per_month)
    for field_name in ("community_id", "grid_id", "building_group_id", "unit_id"):
        value = getattr(data, field_name)
        if value:
            check_org_id(v, field_name, value)
    if data.grid_id and not data.community_id:
        v.add("community_id", "is required when grid_id is given")
    if data.community_id and not data.grid_id:
        v.add("grid_id", "is required to report in to a community")
    if data.building_group_id and not data.grid_id:
        v.add("grid_id", "is required when building_group_id is given")
    v.raise_if_any()
    return replace(data, name=name, phone=phone)


def apply_update(
    current: MemberData, new: MemberData, paths: list[str], bounds: Bounds
) -> MemberData:
    """The member's data after an update of the fields in `paths`. Raises InvalidArgument."""
    v = Violations()
    if not paths:
        v.add("update_mask", "must name at least one field")
    for p in paths:
        if p not in UPDATABLE:
            v.add(
                "update_mask", f"{p!r} cannot be updated (allowed: {', '.join(sorted(UPDATABLE))})"
            )
    v.raise_if_any()
    changes = {p: getattr(new, p) for p in set(paths)}
    return validate_member(replace(current, **changes), bounds)


def mask_phone(phone: str) -> str:
    """At most the first 3 and last 2 digits: 10^6 numbers share a mask."""
    return phone[:3] + "*" * (len(phone) - 5) + phone[-2:] if len(phone) >= 11 else "****"


def may_see(
    principal: Principal, member_id: str, community_id: str | None, street_id: str | None
) -> bool:
    """Whether the member exists for this caller: themself, staff/admins in scope, services.

    A member outside it is answered exactly as a missing one (see `not_found`).
    """
    if principal.role is Role.MEMBER:
        return principal.subject == member_id
    return principal.holds(community_id, street_id)


# Whoever may see a member sees them whole (phone and home): no role sees members partly today.
may_see_private = may_see


def may_manage(
    principal: Principal, member_id: str, community_id: str | None, street_id: str | None
) -> bool:
    """Change, report in or deactivate a member: themself, staff/admins in scope, services."""
    return may_see(principal, member_id, community_id, street_id)


# -- domain events: what a change did; events.py turns each into the payload it publishes ------


@dataclass(frozen=True)
class MemberUpdated:
    paths: tuple[str, ...]


@dataclass(frozen=True)
class MemberReportedIn:
    pass


@dataclass(frozen=True)
class ReportInDecided:
    accepted: bool
    reason: str = ""


@dataclass(frozen=True)
class SkillVerificationSet:
    """A skill's verification began, was renewed or ended ("verified", "expired", "withdrawn")."""

    skill: str
    verified: bool
    expires_at: datetime
    reason: str


@dataclass(frozen=True)
class CertificateExpiring:
    skill: str
    expires_at: datetime


@dataclass(frozen=True)
class MemberDeactivated:
    reason: str


@dataclass(frozen=True)
class MemberReactivated:
    pass


MemberEvent = (
    MemberUpdated
    | MemberReportedIn
    | MemberDeactivated
    | MemberReactivated
    | ReportInDecided
    | SkillVerificationSet
    | CertificateExpiring
)


@dataclass(frozen=True)
class Changed:
    """A member after a change (the store stamps its times), and the events that announce it."""

    member: Member
    event: MemberEvent
    more: tuple[MemberEvent, ...] = ()

    @property
    def events(self) -> tuple[MemberEvent, ...]:
        return (self.event, *self.more)

    @property
    def decides_report_in(self) -> bool:
        """Whether the report-in's decision time is set anew (now, or cleared while pending)."""
        return isinstance(self.event, ReportInDecided | MemberReportedIn)


# -- the changes of a member: each returns None when there is nothing to change ----------------


def update(member: Member, new: MemberData, paths: list[str], bounds: Bounds) -> Changed:
    """The fields in `paths` set from `new`. Raises InvalidArgument or MEMBER_DEACTIVATED."""
    if not member.active:
        raise member_deactivated()
    data = apply_update(member.data, new, paths, bounds)
    # A certificate stays with the skill it proves; a skill no longer claimed takes it along.
    claimed = {code for code, _ in data.skills}
    kept = tuple(v for v in member.verifications if v.skill in claimed)
    return Changed(
        replace(member, data=data, verifications=kept), MemberUpdated(tuple(sorted(paths)))
    )


def change_phone(member: Member, phone: str) -> Changed:
    """A confirmed change of the member's own phone."""
    if not member.active:
        raise member_deactivated()
    return Changed(
        replace(member, data=replace(member.data, phone=phone)), MemberUpdated(("phone",))
    )


def report_in(member: Member, place: Placement, *, by_staff: bool = False) -> Changed | None:
    """The member reports in to `place`: pending until the community's staff accept it, or
    accepted at once when staff of that community do it themselves. Nothing changes when they
    are already there (and, for staff, already accepted)."""
    if not member.active:
        raise member_deactivated()
    d = member.data
    state = ReportInState.ACCEPTED if by_staff else ReportInState.PENDING
    same_place = (
        member.reported_in_at is not None
        and d.community_id == place.community_id
        and d.grid_id == place.grid_id
        and d.building_group_id == place.building_group_id
    )
    if same_place and (
        member.report_in is ReportInState.ACCEPTED
        or (member.report_in is ReportInState.PENDING and not by_staff)
    ):
        return None
    data = replace(
        d,
        community_id=place.community_id,
        grid_id=place.grid_id,
        building_group_id=place.building_group_id,
    )
    moved = replace(
        member,
        data=data,
        report_in=state,
        report_in_reason="",
        report_in_decided_at=None,
    )
    return Changed(moved, MemberReportedIn())


def deactivate(member: Member, reason: str) -> Changed | None:
    """The member leaves active service; one already inactive stays as they are."""
    if not member.active:
        return None
    return Changed(
        replace(member, active=False, deactivation_reason=reason), MemberDeactivated(reason)
    )


def reactivate(member: Member) -> Changed | None:
    """The member returns to active service; one already active stays as they are."""
    if member.active:
        return None
    return Changed(replace(member, active=True, deactivation_reason=""), MemberReactivated())
