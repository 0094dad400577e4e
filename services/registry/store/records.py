"""Rows of the registry's tables ⇄ domain values: the one place that knows the columns."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.common.values import LatLng, WeeklyWindow
from services.registry.domain.member import Member, MemberData, ReportInState, Verification
from services.registry.domain.org import BuildingGroup, Community, Grid, OrgEntry, Street, Unit


def _loc(lat: float | None, lng: float | None) -> LatLng | None:
    return None if lat is None or lng is None else LatLng(lat, lng)


@dataclass(frozen=True)
class OrgTable:
    """How one kind of organisation entry maps to its table."""

    kind: str
    table: str
    columns: tuple[str, ...]
    parent_column: str | None
    to_row: Callable[[Any], tuple[Any, ...]]
    from_record: Callable[[asyncpg.Record], OrgEntry]


ORG_TABLES: dict[str, OrgTable] = {
    t.kind: t
    for t in (
        OrgTable(
            "street",
            "street",
            ("id", "name"),
            None,
            lambda e: (e.id, e.name),
            lambda r: Street(r["id"], r["name"]),
        ),
        OrgTable(
            "community",
            "community",
            ("id", "name", "street_id", "station_lat", "station_lng"),
            "street_id",
            lambda e: (e.id, e.name, e.street_id, e.station.lat, e.station.lng),
            lambda r: Community(
                r["id"], r["name"], r["street_id"], _loc(r["station_lat"], r["station_lng"])
            ),
        ),
        OrgTable(
            "grid",
            "grid",
            ("id", "name", "community_id", "center_lat", "center_lng", "radius_m"),
            "community_id",
            lambda e: (e.id, e.name, e.community_id, e.center.lat, e.center.lng, e.radius_m),
            lambda r: Grid(
                r["id"],
                r["name"],
                r["community_id"],
                _loc(r["center_lat"], r["center_lng"]),
                r["radius_m"],
            ),
        ),
        OrgTable(
            "building_group",
            "building_group",
            ("id", "name", "grid_id", "lat", "lng"),
            "grid_id",
            lambda e: (
                e.id,
                e.name,
                e.grid_id,
                e.location.lat if e.location else None,
                e.location.lng if e.location else None,
            ),
            lambda r: BuildingGroup(r["id"], r["name"], r["grid_id"], _loc(r["lat"], r["lng"])),
        ),
        OrgTable(
            "unit",
            "unit",
            ("id", "name", "kind", "community_id"),
            "community_id",
            lambda e: (e.id, e.name, e.unit_kind, e.community_id),
            lambda r: Unit(r["id"], r["name"], r["kind"], r["community_id"]),
        ),
    )
}

# Erased members are in it (a repeated registration must find its row): reads that answer
# callers add `m.erased_at IS NULL`.
MEMBER_SELECT = """
    SELECT m.*, m.erased_at IS NOT NULL AS erased, c.street_id
    FROM member m LEFT JOIN community c ON c.id = m.community_id
"""


def member_from_record(r: asyncpg.Record) -> Member:
    data = MemberData(
        name=r["name"],
        phone=r["phone"],
        home=_loc(r["home_lat"], r["home_lng"]),
        unit_id=r["unit_id"],
        skills=tuple((s["skill"], s["level"]) for s in json.loads(r["skills"])),
        availability=tuple(
            WeeklyWindow(w["day"], w["start"], w["end"]) for w in json.loads(r["availability"])
        ),
        hours_per_month=r["hours_per_month"],
        community_id=r["community_id"],
        grid_id=r["grid_id"],
        building_group_id=r["building_group_id"],
    )
    return Member(
        id=str(r["id"]),
        data=data,
        active=r["active"],
        street_id=r["street_id"],
        reported_in_at=r["reported_in_at"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        deactivation_reason=r["deactivation_reason"],
        report_in=ReportInState(r["report_in_state"]),
        report_in_reason=r["report_in_reason"],
        report_in_decided_at=r["report_in_decided_at"],
        verifications=verifications_from_json(r["verifications"]),
    )


def verifications_from_json(raw: str) -> tuple[Verification, ...]:
    return tuple(
        Verification(
            v["skill"],
            v["certificate_number"],
            datetime.fromisoformat(v["expires_at"]),
            v.get("reminded", False),
        )
        for v in json.loads(raw)
    )


def verifications_json(member: Member) -> str:
    return json.dumps(
        [
            {
                "skill": v.skill,
                "certificate_number": v.certificate_number,
                "expires_at": v.expires_at.isoformat(),
                "reminded": v.reminded,
            }
            for v in member.verifications
        ]
    )


def request_hash(data: MemberData) -> str:
    """A fingerprint of what a registration asked for (its validated, cleaned data)."""
    return hashlib.sha256(repr(data).encode()).hexdigest()


def home(data: MemberData) -> LatLng:
    if data.home is None:  # validate_member requires it; this guards the type
        raise ValueError("member without a home location")
    return data.home


def skills_json(data: MemberData) -> str:
    return json.dumps([{"skill": s, "level": lvl} for s, lvl in data.skills])


def availability_json(data: MemberData) -> str:
    return json.dumps([{"day": w.day, "start": w.start, "end": w.end} for w in data.availability])
