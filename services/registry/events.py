"""What the registry publishes: subjects and payloads (whole records, for services only).

The only place that builds them; the store writes them to the outbox with the change."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import field_mask_pb2
from google.protobuf import message as pb_message

from linli.v1 import events_pb2, registry_pb2
from services.common.protoconv import ts
from services.common.subjects import (
    CERTIFICATE_EXPIRING,
    MEMBER_DEACTIVATED,
    MEMBER_ERASED,
    MEMBER_REACTIVATED,
    MEMBER_REGISTERED,
    MEMBER_REPORTED_IN,
    MEMBER_UPDATED,
    REGISTRY,
    REPORT_IN_ACCEPTED,
    REPORT_IN_REFUSED,
    SKILL_UNVERIFIED,
    SKILL_VERIFIED,
    subject,
)
from services.registry.convert import member_to_proto, org_to_proto
from services.registry.domain.member import (
    CertificateExpiring,
    Changed,
    Member,
    MemberDeactivated,
    MemberEvent,
    MemberReactivated,
    MemberReportedIn,
    MemberUpdated,
    ReportInDecided,
    SkillVerificationSet,
)
from services.registry.domain.org import OrgEntry


def org_created(entry: OrgEntry) -> tuple[str, pb_message.Message]:
    proto = org_to_proto(entry)
    payload: pb_message.Message
    if isinstance(proto, registry_pb2.Street):
        payload = events_pb2.StreetCreated(street=proto)
    elif isinstance(proto, registry_pb2.Community):
        payload = events_pb2.CommunityCreated(community=proto)
    elif isinstance(proto, registry_pb2.Grid):
        payload = events_pb2.GridCreated(grid=proto)
    elif isinstance(proto, registry_pb2.BuildingGroup):
        payload = events_pb2.BuildingGroupCreated(building_group=proto)
    else:
        payload = events_pb2.UnitCreated(unit=proto)
    return subject(REGISTRY, entry.kind, "created"), payload


def member_registered(member: Member) -> tuple[str, pb_message.Message]:
    return MEMBER_REGISTERED, events_pb2.MemberRegistered(member=member_to_proto(member))


def member_updated(member: Member, paths: Sequence[str]) -> tuple[str, pb_message.Message]:
    return MEMBER_UPDATED, events_pb2.MemberUpdated(
        member=member_to_proto(member), update_mask=field_mask_pb2.FieldMask(paths=sorted(paths))
    )


def member_reported_in(member: Member) -> tuple[str, pb_message.Message]:
    return MEMBER_REPORTED_IN, events_pb2.MemberReportedIn(member=member_to_proto(member))


def member_deactivated(member: Member, reason: str) -> tuple[str, pb_message.Message]:
    return MEMBER_DEACTIVATED, events_pb2.MemberDeactivated(
        member=member_to_proto(member), reason=reason
    )


def member_reactivated(member: Member) -> tuple[str, pb_message.Message]:
    return MEMBER_REACTIVATED, events_pb2.MemberReactivated(member=member_to_proto(member))


def report_in_decided(member: Member, event: ReportInDecided) -> tuple[str, pb_message.Message]:
    if event.accepted:
        return REPORT_IN_ACCEPTED, events_pb2.ReportInAccepted(member=member_to_proto(member))
    return REPORT_IN_REFUSED, events_pb2.ReportInRefused(
        member=member_to_proto(member), reason=event.reason
    )


def skill_verification_changed(
    member: Member, event: SkillVerificationSet
) -> tuple[str, pb_message.Message]:
    return SKILL_VERIFIED if event.verified else SKILL_UNVERIFIED, (
        events_pb2.SkillVerificationChanged(
            member_id=member.id,
            community_id=member.data.community_id or "",
            skill=event.skill,
            verified=event.verified,
            expire_time=ts(event.expires_at),
            reason=event.reason,
        )
    )


def certificate_expiring(
    member: Member, event: CertificateExpiring
) -> tuple[str, pb_message.Message]:
    return CERTIFICATE_EXPIRING, events_pb2.CertificateExpiring(
        member_id=member.id,
        community_id=member.data.community_id or "",
        skill=event.skill,
        expire_time=ts(event.expires_at),
    )


def member_event(event: MemberEvent, member: Member) -> tuple[str, pb_message.Message]:
    """The subject and payload announcing a member's domain event, with the member as stored."""
    if isinstance(event, MemberUpdated):
        return member_updated(member, event.paths)
    if isinstance(event, MemberReportedIn):
        return member_reported_in(member)
    if isinstance(event, MemberDeactivated):
        return member_deactivated(member, event.reason)
    if isinstance(event, ReportInDecided):
        return report_in_decided(member, event)
    if isinstance(event, SkillVerificationSet):
        return skill_verification_changed(member, event)
    if isinstance(event, CertificateExpiring):
        return certificate_expiring(member, event)
    assert isinstance(event, MemberReactivated)
    return member_reactivated(member)


def member_events(changed: Changed, member: Member) -> list[tuple[str, pb_message.Message]]:
    """Everything a change announces. A change of a skill's verification also goes out as the
    member's update of their skills, so that read models fed by the member's snapshots see
    which skills now count."""
    out = [member_event(e, member) for e in changed.events]
    if any(isinstance(e, SkillVerificationSet) for e in changed.events):
        out.append(member_updated(member, ("skills",)))
    return out


def member_erased(member_id: str, community_id: str | None) -> tuple[str, pb_message.Message]:
    """The id and the community kept for figures: the event must not carry what it asks
    everyone to forget."""
    return MEMBER_ERASED, events_pb2.MemberErased(
        member_id=member_id, community_id=community_id or ""
    )


# The payloads that carry a member whole, by type name.
_CARRYING = {
    t.DESCRIPTOR.full_name: t
    for t in (
        events_pb2.MemberRegistered,
        events_pb2.MemberUpdated,
        events_pb2.MemberReportedIn,
        events_pb2.MemberDeactivated,
        events_pb2.MemberReactivated,
        events_pb2.ReportInAccepted,
        events_pb2.ReportInRefused,
    )
}


# The payloads that name a member by id: what their certificates were.
_NAMING = {
    t.DESCRIPTOR.full_name: t
    for t in (events_pb2.SkillVerificationChanged, events_pb2.CertificateExpiring)
}


def about(env: events_pb2.EventEnvelope, member_id: str) -> bool:
    """Whether the (opened) envelope carries a snapshot of this member, or their certificates."""
    name = env.payload.TypeName()
    kind = _CARRYING.get(name)
    if kind is not None:
        payload = kind()
        env.payload.Unpack(payload)
        return payload.member.id == member_id  # type: ignore[attr-defined,no-any-return]
    named = _NAMING.get(name)
    if named is None:
        return False
    certificate = named()
    env.payload.Unpack(certificate)
    return certificate.member_id == member_id  # type: ignore[attr-defined,no-any-return]


def scrub(env: events_pb2.EventEnvelope, erased: Member) -> bool:
    """Put the erased member in place of their old snapshot in a kept event of theirs (keeping
    its times, so that consumers still order it); True when the envelope changed.

    A deactivation's reason goes too: it is free text about the person.
    """
    kind = _CARRYING.get(env.payload.TypeName())
    if kind is None:
        return False
    payload = kind()
    env.payload.Unpack(payload)
    old = payload.member  # type: ignore[attr-defined]
    if old.id != erased.id:
        return False
    new = member_to_proto(erased)
    for stamp in ("reported_in_time", "create_time", "update_time", "report_in_decide_time"):
        new.ClearField(stamp)
        if old.HasField(stamp):
            getattr(new, stamp).CopyFrom(getattr(old, stamp))
    old.CopyFrom(new)
    if isinstance(payload, events_pb2.MemberDeactivated | events_pb2.ReportInRefused):
        payload.reason = ""
    env.payload.Pack(payload)
    return True
