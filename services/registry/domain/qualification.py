"""A member's standing with their community: the staff's decision on a report-in, and the
certificates that make a claimed skill needing proof count (verify, withdraw, remind, expire).

Pure functions: state in, new state and its domain events out, or a domain error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from services.common.checks import Violations, clean_text
from services.common.skills import PROOF_SKILLS, SKILL_CODES
from services.registry.domain.errors import (
    member_deactivated,
    report_in_not_pending,
    skill_not_claimed,
    skill_not_verified,
)
from services.registry.domain.member import (
    REASON_MAX,
    CertificateExpiring,
    Changed,
    Member,
    MemberEvent,
    ReportInDecided,
    ReportInState,
    SkillVerificationSet,
    Verification,
)

CERTIFICATE_MAX = 64
# Letters, digits and the separators certificates print (e.g. "执业证 110101-2019/A03").
CERTIFICATE_RE = re.compile(r"[0-9A-Za-z\u4e00-\u9fff][0-9A-Za-z\u4e00-\u9fff .\-/()（）]*")
# A certificate valid for longer than this is a typing error.
VALID_FOR_MAX = timedelta(days=366 * 30)

VERIFIED, EXPIRED, WITHDRAWN = "verified", "expired", "withdrawn"

# A change of one member as the store applies it under the member's lock.
MemberChange = Callable[[Member], Changed | None]


# -- report-in ---------------------------------------------------------------------------------


def check_refusal_reason(reason: str) -> str:
    v = Violations()
    reason = clean_text(reason)
    if not reason:
        v.add("reason", "is required: the member is told why")
    elif len(reason) > REASON_MAX:
        v.add("reason", f"must be at most {REASON_MAX} characters")
    v.raise_if_any()
    return reason


def accept_report_in(member: Member) -> Changed | None:
    """Staff accept the member's pending report-in; one already accepted stays as it is."""
    if not member.active:
        raise member_deactivated()
    if member.report_in is ReportInState.ACCEPTED:
        return None
    if member.report_in is not ReportInState.PENDING:
        raise report_in_not_pending(member.report_in.value)
    return Changed(replace(member, report_in=ReportInState.ACCEPTED), ReportInDecided(True))


def refuse_report_in(member: Member, reason: str) -> Changed:
    """Staff refuse the member's pending report-in; the member may report in again."""
    if member.report_in is not ReportInState.PENDING:
        raise report_in_not_pending(member.report_in.value)
    return Changed(
        replace(member, report_in=ReportInState.REFUSED, report_in_reason=reason),
        ReportInDecided(False, reason),
    )


# -- skills that need proof ---------------------------------------------------------------------


def check_certificate(
    skill: str, certificate_number: str, expires_at: datetime | None, now: datetime
) -> str:
    """The certificate's number, cleaned. Raises InvalidArgument naming each bad field."""
    v = Violations()
    if skill not in SKILL_CODES:
        v.add("skill", f"unknown skill {skill[:40]!r} (see ListSkills)")
    elif skill not in PROOF_SKILLS:
        v.add("skill", f"{skill!r} needs no proof: it counts as claimed")
    number = clean_text(certificate_number)
    if not number:
        v.add("certificate_number", "is required")
    elif len(number) > CERTIFICATE_MAX:
        v.add("certificate_number", f"must be at most {CERTIFICATE_MAX} characters")
    elif not CERTIFICATE_RE.fullmatch(number):
        v.add("certificate_number", "may hold letters, digits, spaces and . - / ( )")
    if expires_at is None:
        v.add("expire_time", "is required")
    elif expires_at <= now:
        v.add("expire_time", "must lie in the future: an expired certificate proves nothing")
    elif expires_at > now + VALID_FOR_MAX:
        v.add("expire_time", "must lie within 30 years")
    v.raise_if_any()
    return number


def verify_skill(member: Member, skill: str, number: str, expires_at: datetime) -> Changed | None:
    """Staff verified the member's claimed `skill` against a certificate (a new one replaces
    the old; the same one again changes nothing)."""
    if not member.active:
        raise member_deactivated()
    if skill not in {code for code, _ in member.data.skills}:
        raise skill_not_claimed(skill)
    old = member.verified(skill)
    if old is not None and (old.certificate_number, old.expires_at) == (number, expires_at):
        return None
    kept = tuple(v for v in member.verifications if v.skill != skill)
    new = Verification(skill, number, expires_at)
    return Changed(
        replace(member, verifications=(*kept, new)),
        SkillVerificationSet(skill, True, expires_at, VERIFIED),
    )


def withdraw_verification(member: Member, skill: str) -> Changed:
    """The verification of `skill` ends before its time: the skill is claimed again."""
    old = member.verified(skill)
    if old is None:
        raise skill_not_verified(skill)
    kept = tuple(v for v in member.verifications if v.skill != skill)
    return Changed(
        replace(member, verifications=kept),
        SkillVerificationSet(skill, False, old.expires_at, WITHDRAWN),
    )


def due(member: Member, now: datetime, horizon: timedelta) -> bool:
    """Whether `expire` has something to do for this member now."""
    return any(
        v.expires_at <= now or (not v.reminded and v.expires_at <= now + horizon)
        for v in member.verifications
    )


def expire(member: Member, now: datetime, horizon: timedelta) -> Changed | None:
    """The member's certificates as time has moved on: each one expiring within `horizon` is
    reminded once (CertificateExpiring), each one past its day ends (SkillVerificationSet,
    "expired"). None when nothing is due."""
    kept: list[Verification] = []
    announced: list[MemberEvent] = []
    for v in member.verifications:
        if v.expires_at <= now:
            announced.append(SkillVerificationSet(v.skill, False, v.expires_at, EXPIRED))
            continue
        if not v.reminded and v.expires_at <= now + horizon:
            announced.append(CertificateExpiring(v.skill, v.expires_at))
            kept.append(replace(v, reminded=True))
        else:
            kept.append(v)
    if not announced:
        return None
    return Changed(replace(member, verifications=tuple(kept)), announced[0], tuple(announced[1:]))
