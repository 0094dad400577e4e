"""The month's standing of members: newcomers report in through the app and their community's
staff accept them (one is refused and reports in again), and staff verify the certificates of a
doctor, a lawyer and a driver, the driver's expiring within the month."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from dev.cast import Month, People
from linli.v1 import registry_pb2 as R
from services.client import Stubs
from services.common.protoconv import ts

NEWCOMERS = 4
# Their phones lie outside the generated district's block (dev/district/shape.py).
NEWCOMER_PHONE = "17001{:06d}"
REFUSAL = "居住地址与网格不符，请核对后重新报到"
# A doctor, a lawyer, an electrician and a driver: (skill, certificate number, valid for).
CERTIFICATES = (
    ("medical", "110370100001", timedelta(days=730)),
    ("legal_advice", "13701201810001", timedelta(days=1095)),
    # The month's wishes ask for an electrician (month_work.py).
    ("repair_electrical", "T370102198001", timedelta(days=1460)),
    # Reminded at once (within a month) and ended before the month is out.
    ("driving", "370102-C1-0001", timedelta(days=20)),
)


async def newcomers_report_in(stubs: Stubs, actors: People, month: Month) -> list[str]:
    """Newcomers registered by the app's backend report in themselves, next door to members
    of four communities; they wait for the staff there."""
    by_community: dict[str, R.Member] = {}
    for m in sorted(month.members.values(), key=lambda m: m.id):
        by_community.setdefault(m.community_id, m)
    neighbours = [by_community[c] for c in sorted(by_community)][:NEWCOMERS]
    arrived: dict[str, R.Member] = {}
    for i, n in enumerate(neighbours):
        registered = await stubs.registry.RegisterMember(
            R.RegisterMemberRequest(
                request_id=f"newcomer-{i}",
                member=R.Member(
                    name=f"测试·新报到{i + 1}",
                    phone=NEWCOMER_PHONE.format(i),
                    home=n.home,
                    skills=[R.MemberSkill(skill="errands", level=2)],
                    availability=n.availability,
                    hours_per_month=8,
                ),
            ),
            metadata=actors.service,
        )
        arrived[registered.member.id] = registered.member
    await actors.sign_in_members(arrived)
    for member_id, n in zip(arrived, neighbours, strict=True):
        await stubs.registry.ReportIn(
            R.ReportInRequest(member_id=member_id, community_id=n.community_id, grid_id=n.grid_id),
            metadata=actors.member(member_id),
        )
    return list(arrived)


async def staff_decide(stubs: Stubs, actors: People, month: Month, newcomers: list[str]) -> None:
    """Each community's staff work through their queue of pending report-ins; the first
    newcomer is refused, reports in again, and is accepted."""
    communities = sorted({m.community_id for m in month.members.values()})
    refused = newcomers[0]
    for community in communities:
        staff = actors.staff(community)
        queue = await stubs.registry.ListMembers(
            R.ListMembersRequest(community_id=community, report_in_state=R.REPORT_IN_STATE_PENDING),
            metadata=staff,
        )
        for m in queue.members:
            if m.id == refused:
                await stubs.registry.RefuseReportIn(
                    R.RefuseReportInRequest(member_id=m.id, reason=REFUSAL), metadata=staff
                )
                month.standing["report-ins refused"] += 1
                await stubs.registry.ReportIn(
                    R.ReportInRequest(
                        member_id=m.id, community_id=m.community_id, grid_id=m.grid_id
                    ),
                    metadata=actors.member(m.id),
                )
            accepted = await stubs.registry.AcceptReportIn(
                R.AcceptReportInRequest(member_id=m.id), metadata=staff
            )
            month.standing["report-ins accepted"] += 1
            month.members[m.id] = accepted.member


async def staff_verify(stubs: Stubs, actors: People, month: Month) -> None:
    """Staff check the certificates of the first member claiming each skill that needs them."""
    now = datetime.now(UTC)
    for skill, number, valid_for in CERTIFICATES:
        holder = next(
            (
                m
                for m in sorted(month.members.values(), key=lambda m: m.id)
                if any(s.skill == skill for s in m.skills)
            ),
            None,
        )
        if holder is None:
            continue
        verified = await stubs.registry.VerifySkill(
            R.VerifySkillRequest(
                member_id=holder.id,
                skill=skill,
                certificate_number=number,
                expire_time=ts(now + valid_for),
            ),
            metadata=actors.staff(holder.community_id),
        )
        month.members[holder.id] = verified.member
        month.standing["certificates verified"] += 1


async def play_standing(
    stubs: Stubs, actors: People, month: Month, say: Callable[[str], Any]
) -> None:
    say("newcomers report in; staff accept them (one refused, then redone)")
    newcomers = await newcomers_report_in(stubs, actors, month)
    await staff_decide(stubs, actors, month, newcomers)
    say("staff verify certificates: a doctor, a lawyer, a driver")
    await staff_verify(stubs, actors, month)
