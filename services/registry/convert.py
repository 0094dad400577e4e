"""Translation between the registry's domain values and its protobuf messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from linli.v1 import registry_pb2
from services.common import audit
from services.common.errors import invalid
from services.common.protoconv import (
    as_json,
    latlng_from_proto,
    latlng_to_proto,
    ts,
    weekly_window_from_proto,
    weekly_window_to_proto,
)
from services.registry.domain.erasure import PhoneHistory
from services.registry.domain.member import Member, MemberData, ReportInState, mask_phone
from services.registry.domain.org import BuildingGroup, Community, Grid, OrgEntry, Street, Unit

_UNIT_KIND_TO_PROTO = {
    "government": registry_pb2.UNIT_KIND_GOVERNMENT,
    "enterprise": registry_pb2.UNIT_KIND_ENTERPRISE,
    "institution": registry_pb2.UNIT_KIND_INSTITUTION,
}
_UNIT_KIND_FROM_PROTO = {v: k for k, v in _UNIT_KIND_TO_PROTO.items()}


def member_data_from_proto(m: registry_pb2.Member) -> MemberData:
    return MemberData(
        name=m.name,
        phone=m.phone,
        home=latlng_from_proto(m.home, m.HasField("home")),
        unit_id=m.unit_id or None,
        skills=tuple((s.skill, s.level) for s in m.skills),
        availability=tuple(weekly_window_from_proto(w) for w in m.availability),
        hours_per_month=m.hours_per_month,
        community_id=m.community_id or None,
        grid_id=m.grid_id or None,
        building_group_id=m.building_group_id or None,
    )


REPORT_IN_TO_PROTO = {
    ReportInState.NONE: registry_pb2.REPORT_IN_STATE_UNSPECIFIED,
    ReportInState.PENDING: registry_pb2.REPORT_IN_STATE_PENDING,
    ReportInState.ACCEPTED: registry_pb2.REPORT_IN_STATE_ACCEPTED,
    ReportInState.REFUSED: registry_pb2.REPORT_IN_STATE_REFUSED,
}
REPORT_IN_FROM_PROTO = {v: k for k, v in REPORT_IN_TO_PROTO.items()}


def member_skill(
    member: Member, code: str, level: int, certificates: bool
) -> registry_pb2.MemberSkill:
    v = member.verified(code)
    if v is None:
        return registry_pb2.MemberSkill(skill=code, level=level)
    return registry_pb2.MemberSkill(
        skill=code,
        level=level,
        verified=True,
        expire_time=ts(v.expires_at),
        certificate_number=v.certificate_number if certificates else "",
    )


def member_to_proto(
    member: Member, *, private: bool = True, certificates: bool = False
) -> registry_pb2.Member:
    """The member as a message. Events carry it whole but without certificate numbers, which
    only answers to the member and their community's staff show (`certificates`)."""
    d = member.data
    out = registry_pb2.Member(
        id=member.id,
        name=d.name,
        phone=d.phone if private else mask_phone(d.phone),
        phone_masked=not private,
        community_id=d.community_id or "",
        grid_id=d.grid_id or "",
        # The building group's place is within metres of the home: as private as the home.
        building_group_id=(d.building_group_id or "") if private else "",
        unit_id=d.unit_id or "",
        skills=[member_skill(member, s, lvl, certificates and private) for s, lvl in d.skills],
        availability=[weekly_window_to_proto(w) for w in d.availability],
        hours_per_month=d.hours_per_month,
        status=registry_pb2.MEMBER_STATUS_ACTIVE
        if member.active
        else registry_pb2.MEMBER_STATUS_DEACTIVATED,
        reported_in_time=ts(member.reported_in_at),
        create_time=ts(member.created_at),
        update_time=ts(member.updated_at),
        report_in_state=REPORT_IN_TO_PROTO[member.report_in],
        report_in_refusal_reason=member.report_in_reason,
        report_in_decide_time=ts(member.report_in_decided_at),
    )
    if private and d.home is not None:
        out.home.latitude, out.home.longitude = d.home.lat, d.home.lng
    return out


def member_answer(member: Member, *, private: bool = True) -> registry_pb2.Member:
    """A member as an answer shows them: a full phone or an exact home shown is noted for the
    audit log (events carry the same message and are no reveal, so this is for answers only)."""
    if private:
        d = member.data
        shown = [audit.PHONE] if d.phone else []
        if d.home is not None or d.building_group_id:
            shown.append(audit.HOME)
        if member.verifications:
            shown.append(audit.CERTIFICATE)
        audit.note_reveal(member_id=member.id, revealed=shown)
    return member_to_proto(member, private=private, certificates=private)


def org_to_proto(
    entry: OrgEntry, created_at: datetime | None = None
) -> (
    registry_pb2.Street
    | registry_pb2.Community
    | registry_pb2.Grid
    | registry_pb2.BuildingGroup
    | registry_pb2.Unit
):
    created = ts(created_at)
    if isinstance(entry, Street):
        return registry_pb2.Street(id=entry.id, name=entry.name, create_time=created)
    if isinstance(entry, Community):
        return registry_pb2.Community(
            id=entry.id,
            name=entry.name,
            street_id=entry.street_id,
            station=latlng_to_proto(entry.station),
            create_time=created,
        )
    if isinstance(entry, Grid):
        return registry_pb2.Grid(
            id=entry.id,
            name=entry.name,
            community_id=entry.community_id,
            center=latlng_to_proto(entry.center),
            radius_m=entry.radius_m or 0,
            create_time=created,
        )
    if isinstance(entry, BuildingGroup):
        return registry_pb2.BuildingGroup(
            id=entry.id,
            name=entry.name,
            grid_id=entry.grid_id,
            location=latlng_to_proto(entry.location),
            create_time=created,
        )
    return registry_pb2.Unit(
        id=entry.id,
        name=entry.name,
        kind=_UNIT_KIND_TO_PROTO.get(entry.unit_kind, 0),  # type: ignore[arg-type]
        community_id=entry.community_id,
        create_time=created,
    )


def street_from_proto(m: registry_pb2.Street) -> Street:
    return Street(m.id, m.name)


def community_from_proto(m: registry_pb2.Community) -> Community:
    return Community(m.id, m.name, m.street_id, latlng_from_proto(m.station, m.HasField("station")))


def grid_from_proto(m: registry_pb2.Grid) -> Grid:
    return Grid(
        m.id, m.name, m.community_id, latlng_from_proto(m.center, m.HasField("center")), m.radius_m
    )


def building_group_from_proto(m: registry_pb2.BuildingGroup) -> BuildingGroup:
    return BuildingGroup(
        m.id, m.name, m.grid_id, latlng_from_proto(m.location, m.HasField("location"))
    )


def unit_from_proto(m: registry_pb2.Unit) -> Unit:
    return Unit(m.id, m.name, _UNIT_KIND_FROM_PROTO.get(m.kind, ""), m.community_id)


def member_export(member: Member, phones: PhoneHistory) -> dict[str, Any]:
    """The registry's sections of a member's export: the record whole and the phone history."""
    return {
        "member": as_json(member_to_proto(member, certificates=True)),
        "phone_change_pending": None
        if phones.pending_phone is None
        else {"phone": phones.pending_phone, "expires": phones.pending_expires},
        "phone_changes_asked": list(phones.changes_asked),
    }


def member_id_arg(value: str, field: str) -> str:
    """A member id from a request, in canonical form. A value that cannot be an id is bad input
    (no member could have it); a well-formed one is looked up and, missing or not the caller's
    to see, answered NOT_FOUND the same way."""
    if not value:
        raise invalid(field, "is required")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise invalid(field, "must be a member id (a UUID)") from None
