"""The report's check-in evidence: confirmed records by evidence per community, and hours given
counted from a task's confirmed records where staff confirmed them."""

from __future__ import annotations

from linli.v1 import attendance_pb2 as pb
from linli.v1 import events_pb2, registry_pb2, tasks_pb2
from services.report.attendance import hours_given, section
from services.report.data import Data
from services.report.render import render

CONFIRMED = pb.HOURS_RECORD_STATE_CONFIRMED
PLACE, CODE, WORD = (
    events_pb2.HOURS_EVIDENCE_CODE_AND_PLACE,
    events_pb2.HOURS_EVIDENCE_CODE_ONLY,
    events_pb2.HOURS_EVIDENCE_STAFF_WORD,
)


def record(
    task: str, member: str, minutes: int, evidence: int, state: int = CONFIRMED
) -> pb.HoursRecord:
    return pb.HoursRecord(
        id=f"r-{task}-{member}-{minutes}",
        task_id=task,
        member_id=member,
        community_id="binhu",
        state=state,  # type: ignore[arg-type]
        minutes=minutes,
        evidence=evidence,  # type: ignore[arg-type]
    )


def data() -> Data:
    done = tasks_pb2.ASSIGNMENT_STATE_COMPLETED
    d = Data(communities=[registry_pb2.Community(id="binhu", name="滨湖", street_id="jiyang")])
    d.tasks = [
        tasks_pb2.Task(id="t1", community_id="binhu", beneficiary_group=1),
        tasks_pb2.Task(id="t2", community_id="binhu", beneficiary_group=1),
    ]
    d.assignments = {
        "t1": [
            tasks_pb2.Assignment(member_id="m1", state=done, hours=2),
            tasks_pb2.Assignment(member_id="m2", state=done, hours=2),
        ],
        "t2": [tasks_pb2.Assignment(member_id="m3", state=done, hours=1)],
    }
    d.hours_records = [
        record("t1", "m1", 90, PLACE),
        record("t1", "m2", 120, PLACE, pb.HOURS_RECORD_STATE_SUPERSEDED),
        record("t1", "m2", 60, WORD),
        record("t2", "m4", 30, CODE),  # a request approved: no completed place
    ]
    return d


def test_hours_given_count_confirmed_records_over_completions_word() -> None:
    assert hours_given(data()) == {"t1": {"m1": 1.5, "m2": 1.0}, "t2": {"m3": 1.0, "m4": 0.5}}


def test_the_evidence_section_counts_confirmed_records_by_kind_per_community() -> None:
    html = section(data())
    assert "Check-in evidence" in html and "滨湖" in html
    # 3 confirmed: 1 code and place, 1 code only, 1 staff's word; a third proven on site.
    assert "<td>3</td><td>1</td><td>1</td><td>1</td><td>33 %</td>" in html


def test_the_page_shows_the_section_and_the_confirmed_hours() -> None:
    page = render(data())
    assert "Check-in evidence" in page
    assert "<td>4.0</td>" in page  # 1.5 + 1 + 1 + 0.5 hours given in Binhu
    assert section(Data()) == ""
