"""The report's check-in evidence: per community, the confirmed hours records by how they are
evidenced (code and place, code only, the staff's word) and the share proven on site; and the
hours a task gave, from its confirmed records where staff confirmed them."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from linli.v1 import attendance_pb2, events_pb2, tasks_pb2
from services.client import Metadata, Stubs, gather, pages

if TYPE_CHECKING:
    from services.report.data import Data

CONFIRMED = attendance_pb2.HOURS_RECORD_STATE_CONFIRMED
COMPLETED = tasks_pb2.ASSIGNMENT_STATE_COMPLETED
EVIDENCE = (
    (events_pb2.HOURS_EVIDENCE_CODE_AND_PLACE, "code and place 扫码+定位"),
    (events_pb2.HOURS_EVIDENCE_CODE_ONLY, "code only 仅扫码"),
    (events_pb2.HOURS_EVIDENCE_STAFF_WORD, "staff's word 工作人员确认"),
)


async def collect(stubs: Stubs, md: Metadata, d: Data) -> None:
    """The hours records of the report's communities, for its tasks."""
    found = await gather(
        [c.id for c in d.communities],
        lambda c: pages(
            stubs.attendance.ListHoursRecords,
            attendance_pb2.ListHoursRecordsRequest(community_id=c, page_size=1000),
            "records",
            md,
        ),
        4,
    )
    ours = {t.id for t in d.tasks}
    d.hours_records = [r for group in found for r in group if r.task_id in ours]


def hours_given(d: Data) -> dict[str, dict[str, float]]:
    """Hours by task and member: a confirmed record's minutes, else what completion said."""
    given: dict[str, dict[str, float]] = defaultdict(dict)
    for task_id, assignments in d.assignments.items():
        for a in assignments:
            if a.state == COMPLETED:
                given[task_id][a.member_id] = a.hours
    for r in d.hours_records:
        if r.state == CONFIRMED:
            given[r.task_id][r.member_id] = r.minutes / 60
    return given


def section(d: Data) -> str:
    """The check-in evidence table, per community (empty when no hours were confirmed)."""
    from services.report.render import table

    confirmed = [r for r in d.hours_records if r.state == CONFIRMED]
    if not confirmed:
        return ""
    by: dict[str, Counter[int]] = defaultdict(Counter)
    for r in confirmed:
        by[r.community_id][r.evidence] += 1
    names = {c.id: c.name for c in d.communities}
    rows = []
    for cid in sorted(by, key=lambda c: names.get(c, c)):
        counts = by[cid]
        total = sum(counts.values())
        on_site = counts[events_pb2.HOURS_EVIDENCE_CODE_AND_PLACE]
        share = f"{on_site / total * 100:.0f} %"
        rows.append([names.get(cid, cid), total, *(counts[e] for e, _ in EVIDENCE), share])
    headers = ["community", "hours records", *(name for _, name in EVIDENCE), "code and place"]
    return f"""<h2>Check-in evidence 签到凭证</h2>
<p class="muted">Confirmed hours records of the period by how they are evidenced: checked in and
out with the rotating code at the place, with the code only (a street-wide task), or on the staff's
word (no check-in, or corrected).</p>
{table(headers, rows, "evidence")}"""
