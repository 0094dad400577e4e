"""The district's organisation as values and its rules: what a valid entry is, what a write of
many entries creates, and whether a member's places exist and fit together.

Four levels (street → community → grid → building-yard party group) plus the units paired with
communities. Every entry has a stable id chosen by the district.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol, TypeVar

from services.common.checks import Violations, check_location, check_name, clean_text
from services.common.errors import FieldViolation, InvalidArgument
from services.common.settings import Bounds
from services.common.values import LatLng

RADIUS_MAX_M = 5000
UNIT_KINDS = ("government", "enterprise", "institution")
ORG_ID_RE = re.compile(r"[a-z][a-z0-9-]{0,62}[a-z0-9]")


@dataclass(frozen=True)
class Street:
    kind: ClassVar[str] = "street"
    id: str
    name: str
    line: int = 0

    def content(self) -> tuple[Any, ...]:
        return (self.name,)


@dataclass(frozen=True)
class Community:
    kind: ClassVar[str] = "community"
    id: str
    name: str
    street_id: str
    station: LatLng | None
    line: int = 0

    def content(self) -> tuple[Any, ...]:
        return (self.name, self.street_id, _round(self.station))


@dataclass(frozen=True)
class Grid:
    kind: ClassVar[str] = "grid"
    id: str
    name: str
    community_id: str
    center: LatLng | None
    # None only when the file's value was missing or not a number (already reported).
    radius_m: int | None
    line: int = 0

    def content(self) -> tuple[Any, ...]:
        return (self.name, self.community_id, _round(self.center), self.radius_m)


@dataclass(frozen=True)
class BuildingGroup:
    kind: ClassVar[str] = "building_group"
    id: str
    name: str
    grid_id: str
    location: LatLng | None
    line: int = 0

    def content(self) -> tuple[Any, ...]:
        return (self.name, self.grid_id, _round(self.location))


@dataclass(frozen=True)
class Unit:
    kind: ClassVar[str] = "unit"
    id: str
    name: str
    unit_kind: str
    community_id: str
    line: int = 0

    def content(self) -> tuple[Any, ...]:
        return (self.name, self.unit_kind, self.community_id)


OrgEntry = Street | Community | Grid | BuildingGroup | Unit

# Every kind, parents before children, with the field that names its parent ("" for none).
PARENT_FIELD: dict[str, str] = {
    "street": "",
    "community": "street_id",
    "grid": "community_id",
    "building_group": "grid_id",
    "unit": "community_id",
}
KINDS = tuple(PARENT_FIELD)


def _round(loc: LatLng | None) -> tuple[float, float] | None:
    return None if loc is None else (round(loc.lat, 7), round(loc.lng, 7))


def check_org_id(v: Violations, field_name: str, value: str) -> str:
    if not ORG_ID_RE.fullmatch(value):
        v.add(
            field_name,
            "must be 2 to 64 lower-case letters, digits or '-', starting with a "
            f"letter (got {value[:40]!r})",
        )
    return value


def validate_entry(entry: OrgEntry, bounds: Bounds, prefix: str) -> list[FieldViolation]:
    """Field rules of one entry (references are checked against the whole district elsewhere)."""
    v = Violations(prefix)
    check_org_id(v, "id", entry.id)
    check_name(v, "name", entry.name)
    if isinstance(entry, Community):
        check_org_id(v, "street_id", entry.street_id)
        check_location(v, "station", entry.station, bounds)
    elif isinstance(entry, Grid):
        check_org_id(v, "community_id", entry.community_id)
        check_location(v, "center", entry.center, bounds)
        if entry.radius_m is not None and not 10 <= entry.radius_m <= RADIUS_MAX_M:
            v.add("radius_m", f"must be 10 to {RADIUS_MAX_M} metres (got {entry.radius_m})")
    elif isinstance(entry, BuildingGroup):
        check_org_id(v, "grid_id", entry.grid_id)
        check_location(v, "location", entry.location, bounds, required=False)
    elif isinstance(entry, Unit):
        check_org_id(v, "community_id", entry.community_id)
        if entry.unit_kind not in UNIT_KINDS:
            v.add("kind", f"must be one of {', '.join(UNIT_KINDS)} (got {entry.unit_kind!r})")
    return v.items


def parent_of(entry: OrgEntry) -> tuple[str, str] | None:
    """(kind, id) of the entry the given one belongs to."""
    if isinstance(entry, Community):
        return ("street", entry.street_id)
    if isinstance(entry, Grid):
        return ("community", entry.community_id)
    if isinstance(entry, BuildingGroup):
        return ("grid", entry.grid_id)
    if isinstance(entry, Unit):
        return ("community", entry.community_id)
    return None


OrgEntryT = TypeVar("OrgEntryT", bound=OrgEntry)


def cleaned(entry: OrgEntryT) -> OrgEntryT:
    """The entry with its name as it was checked: trimmed and NFC-normalised."""
    return replace(entry, name=clean_text(entry.name))


def wanted_ids(entries: Sequence[OrgEntry], kind: str) -> list[str]:
    """The ids of `kind` that a write of `entries` must look up: its entries and their parents."""
    ids = [e.id for e in entries if e.kind == kind]
    parent_ids = [p[1] for e in entries if (p := parent_of(e)) and p[0] == kind]
    return list({*ids, *parent_ids})


@dataclass
class OrgWrite:
    """What a write of many entries does: the entries to create per kind, how many are already
    there as given, and every entry as it will be stored."""

    new: dict[str, list[OrgEntry]] = field(default_factory=lambda: {k: [] for k in KINDS})
    unchanged: int = 0
    stored: list[OrgEntry] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.new.items()}


def _where(entry: OrgEntry, field_name: str) -> str:
    return (
        f"line {entry.line}: {entry.kind}.{field_name}"
        if entry.line
        else f"{entry.kind}.{field_name}"
    )


def plan_write(
    entries: Sequence[OrgEntry], existing: Mapping[tuple[str, str], OrgEntry]
) -> OrgWrite:
    """Which of `entries` (parents first) are new, given the `existing` ones by (kind, id).

    An entry that exists with other content, or whose parent exists neither in `existing` nor
    among `entries`, fails the whole write with InvalidArgument naming it.
    """
    plan = OrgWrite()
    violations: list[FieldViolation] = []
    known = set(existing)
    for entry in entries:
        parent = parent_of(entry)
        if parent is not None and parent not in known:
            violations.append(
                FieldViolation(
                    _where(entry, PARENT_FIELD[entry.kind] or "parent"),
                    f"{parent[0]} {parent[1]!r} does not exist",
                )
            )
        old = existing.get((entry.kind, entry.id))
        if old is None:
            plan.new[entry.kind].append(entry)
            known.add((entry.kind, entry.id))
            plan.stored.append(entry)
        elif old.content() != entry.content():
            violations.append(
                FieldViolation(
                    _where(entry, "id"),
                    f"{entry.kind} {entry.id!r} already exists with other content",
                )
            )
        else:
            plan.unchanged += 1
            plan.stored.append(old)
    if violations:
        raise InvalidArgument(violations)
    return plan


@dataclass(frozen=True)
class Places:
    """What the registry holds of the places some members name: the street of each community,
    the community of each grid, the grid of each building group, and the units."""

    streets: Mapping[str, str]
    grid_community: Mapping[str, str]
    group_grid: Mapping[str, str]
    units: frozenset[str]


class PlaceRefs(Protocol):
    """The places one member names (a member's data, or where they report in)."""

    @property
    def community_id(self) -> str | None: ...
    @property
    def grid_id(self) -> str | None: ...
    @property
    def building_group_id(self) -> str | None: ...
    @property
    def unit_id(self) -> str | None: ...


@dataclass(frozen=True)
class Placement:
    """Where a member reports in."""

    community_id: str
    grid_id: str
    building_group_id: str | None
    unit_id: str | None = None


def place_violations(d: PlaceRefs, places: Places, prefix: str) -> list[FieldViolation]:
    """Each unknown or mismatched place that `d` names (fields named with `prefix`)."""
    v: list[FieldViolation] = []
    if d.community_id and d.community_id not in places.streets:
        v.append(FieldViolation(f"{prefix}community_id", f"unknown community {d.community_id!r}"))
    if d.grid_id:
        if d.grid_id not in places.grid_community:
            v.append(FieldViolation(f"{prefix}grid_id", f"unknown grid {d.grid_id!r}"))
        elif places.grid_community[d.grid_id] != d.community_id:
            v.append(
                FieldViolation(
                    f"{prefix}grid_id",
                    f"grid {d.grid_id!r} is not in community {d.community_id!r}",
                )
            )
    if d.building_group_id:
        if d.building_group_id not in places.group_grid:
            v.append(
                FieldViolation(
                    f"{prefix}building_group_id",
                    f"unknown building group {d.building_group_id!r}",
                )
            )
        elif places.group_grid[d.building_group_id] != d.grid_id:
            v.append(
                FieldViolation(
                    f"{prefix}building_group_id",
                    f"building group {d.building_group_id!r} is not in grid {d.grid_id!r}",
                )
            )
    if d.unit_id and d.unit_id not in places.units:
        v.append(FieldViolation(f"{prefix}unit_id", f"unknown unit {d.unit_id!r}"))
    return v
