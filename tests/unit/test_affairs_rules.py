"""The affairs service's state machine: every move from every stage, allowed or refused (a table),
the time limits and the overdue flag, and properties that hold whatever the moves: the history
only grows, an item closes only with an outcome and a satisfied answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.affairs.domain import moves
from services.affairs.domain.access import for_caller, sees, sees_contact
from services.affairs.domain.deadlines import DEFAULT_DEADLINES, flag_overdue
from services.affairs.domain.errors import MoveRefused
from services.affairs.domain.items import (
    Answer,
    Category,
    Consultation,
    Contact,
    Draft,
    Handler,
    HandlerKind,
    Item,
    Party,
    Source,
    Stage,
    Urgency,
    check_draft,
    raise_item,
)
from services.affairs.domain.ledger import ledger
from services.common.auth import Principal, Role
from services.common.errors import InvalidArgument

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
UNIT = Handler(HandlerKind.PAIRED_UNIT, "区住建局", "u-1", "unit-account")
PARTIES = (
    Party("party_committee", "城里社区党委"),
    Party("owners_committee", "清华园业委会"),
    Party("property_company", "清华园物业"),
    Party("third_party", "区供热办"),
)
MEETING = Consultation(PARTIES, T0, "议定更换主管道", "分两期更换", "清华园物业", "同意")


def draft(**changes: object) -> Draft:
    d = Draft(
        community_id="c-1",
        grid_id="g-1",
        building_group_id="b-1",
        summary="3号楼楼道灯不亮",
        category=Category.HOUSING,
        urgency=Urgency.NORMAL,
        place="清华园小区3号楼",
        source=Source.GRID,
        contact=Contact("测试·李娟", "19900001111"),
    )
    return replace(d, **changes)  # type: ignore[arg-type]


def new_item(now: datetime = T0) -> Item:
    d = check_draft(draft())
    return raise_item(
        d,
        item_id="i-1",
        request_id="r-0",
        street_id="s-1",
        actor="staff",
        now=now,
        due_at=DEFAULT_DEADLINES.due(Stage.OPEN, Category.HOUSING, Urgency.NORMAL, now),
    )


def act(n: int = 1, at: datetime = T0) -> moves.Act:
    return moves.Act("staff", at + timedelta(minutes=n), f"r-{n}", DEFAULT_DEADLINES)


# Each move as one call, by name.
MOVES = {
    "assign": lambda i, a: moves.assign(i, a, "staff-2"),
    "link": lambda i, a: moves.link_task(i, a, "task-1"),
    "resolve": lambda i, a: moves.resolve(i, a, "换了灯泡"),
    "escalate": lambda i, a: moves.escalate(i, a, "需要维修资金"),
    "route": lambda i, a: moves.route(i, a, UNIT, None, ""),
    "return": lambda i, a: moves.send_back(i, a, "请社区协调物业"),
    "consult": lambda i, a: moves.consult(i, a, MEETING),
    "answer": lambda i, a: moves.answer(i, a, Answer.SATISFIED, ""),
    "merge": lambda i, a: moves.merge(at_stage(Stage.ESCALATED, "m-1"), [i], a, "")[1][0],
    "merge_into": lambda i, a: moves.merge(i, [replace(new_item(), id="i-2")], a, "")[0],
}


def at_stage(stage: Stage, item_id: str = "i-1") -> Item:
    """An item brought to `stage` by allowed moves."""
    i = replace(new_item(), id=item_id)
    path = {
        Stage.OPEN: [],
        Stage.IN_COMMUNITY: ["assign"],
        Stage.ESCALATED: ["escalate"],
        Stage.ROUTED: ["escalate", "route"],
        Stage.RESOLVED: ["resolve"],
        Stage.CLOSED: ["resolve", "answer"],
        Stage.MERGED: ["merge"],
    }[stage]
    for n, name in enumerate(path, start=1):
        i = MOVES[name](i, act(n))
    assert i.stage is stage
    return i


# (move, stage it starts from) -> the stage after it, or None when refused.
TABLE: dict[tuple[str, Stage], Stage | None] = {}
for _stage in Stage:
    for _move in MOVES:
        TABLE[_move, _stage] = None
TABLE.update(
    {
        ("assign", Stage.OPEN): Stage.IN_COMMUNITY,
        ("assign", Stage.IN_COMMUNITY): Stage.IN_COMMUNITY,
        ("link", Stage.OPEN): Stage.IN_COMMUNITY,
        ("link", Stage.IN_COMMUNITY): Stage.IN_COMMUNITY,
        ("resolve", Stage.OPEN): Stage.RESOLVED,
        ("resolve", Stage.IN_COMMUNITY): Stage.RESOLVED,
        ("resolve", Stage.ESCALATED): Stage.RESOLVED,
        ("resolve", Stage.ROUTED): Stage.RESOLVED,
        ("escalate", Stage.OPEN): Stage.ESCALATED,
        ("escalate", Stage.IN_COMMUNITY): Stage.ESCALATED,
        ("route", Stage.ESCALATED): Stage.ROUTED,
        ("route", Stage.ROUTED): Stage.ROUTED,
        ("return", Stage.ESCALATED): Stage.IN_COMMUNITY,
        ("return", Stage.ROUTED): Stage.IN_COMMUNITY,
        ("consult", Stage.OPEN): Stage.OPEN,
        ("consult", Stage.IN_COMMUNITY): Stage.IN_COMMUNITY,
        ("consult", Stage.ESCALATED): Stage.ESCALATED,
        ("consult", Stage.ROUTED): Stage.ROUTED,
        ("answer", Stage.RESOLVED): Stage.CLOSED,
        ("merge", Stage.OPEN): Stage.MERGED,
        ("merge", Stage.IN_COMMUNITY): Stage.MERGED,
        ("merge", Stage.ESCALATED): Stage.MERGED,
        ("merge", Stage.ROUTED): Stage.MERGED,
        ("merge_into", Stage.ESCALATED): Stage.ESCALATED,
        ("merge_into", Stage.ROUTED): Stage.ROUTED,
    }
)


@pytest.mark.parametrize(
    ("move", "stage"), sorted(TABLE, key=lambda k: (k[0], k[1].value)), ids=str
)
def test_every_move_from_every_stage_is_allowed_or_refused_as_the_table_says(
    move: str, stage: Stage
) -> None:
    before = at_stage(stage)
    expected = TABLE[move, stage]
    if expected is None:
        with pytest.raises(MoveRefused) as e:
            MOVES[move](before, act(9))
        assert e.value.metadata["stage"] == stage.value
        return
    after = MOVES[move](before, act(9))
    assert after.stage is expected
    assert after.history[: len(before.history)] == before.history
    assert len(after.history) == len(before.history) + 1


def test_a_new_item_is_open_with_the_time_limit_of_its_category_and_urgency() -> None:
    i = new_item()
    assert i.stage is Stage.OPEN and i.history[0].action == "created"
    # Housing takes half as long again as a normal item.
    assert i.due_at == T0 + timedelta(days=3)
    urgent = DEFAULT_DEADLINES.due(Stage.OPEN, Category.SAFETY, Urgency.URGENT, T0)
    assert urgent == T0 + timedelta(days=2 * 0.5 * 0.25)


def test_each_new_stage_starts_a_new_time_limit_and_the_street_may_set_its_own() -> None:
    i = moves.escalate(new_item(), act(1), "需要资金")
    assert i.due_at == T0 + timedelta(minutes=1) + timedelta(days=3 * 1.5)
    due = T0 + timedelta(days=30)
    routed = moves.route(i, act(2), UNIT, due, "月底前完成")
    assert routed.due_at == due and routed.handler == UNIT
    closed = moves.answer(moves.resolve(routed, act(3), "修好了"), act(4), Answer.SATISFIED, "")
    assert closed.due_at is None and closed.closed_at == act(4).now


def test_an_item_past_its_time_limit_is_flagged_once_until_its_stage_changes() -> None:
    i = new_item()
    assert i.due_at is not None
    assert flag_overdue(i, i.due_at - timedelta(seconds=1)) is None
    late = flag_overdue(i, i.due_at + timedelta(seconds=1))
    assert late is not None and late.overdue and late.ever_overdue
    assert late.history[-1].action == "overdue"
    assert flag_overdue(late, late.due_at + timedelta(days=9)) is None  # type: ignore[operator]
    moved = moves.assign(late, act(5, late.due_at), "staff-2")  # type: ignore[arg-type]
    assert not moved.overdue and moved.ever_overdue


def test_an_unsatisfied_resident_reopens_the_item_at_the_level_that_resolved_it() -> None:
    resolved = moves.resolve(new_item(), act(1), "调解了")
    back = moves.answer(resolved, act(2), Answer.NOT_SATISFIED, "还是吵")
    assert back.stage is Stage.IN_COMMUNITY and back.reopened == 1 and back.outcome == ""
    routed = at_stage(Stage.ROUTED)
    again = moves.answer(moves.resolve(routed, act(5), "修了"), act(6), Answer.NOT_SATISFIED, "")
    assert again.stage is Stage.ROUTED and again.handler == UNIT


def test_moves_refuse_what_they_need_missing_naming_the_field() -> None:
    cases = [
        (lambda: moves.resolve(new_item(), act(), " "), "outcome"),
        (lambda: moves.escalate(new_item(), act(), ""), "reason"),
        (lambda: moves.send_back(at_stage(Stage.ESCALATED), act(5), ""), "guidance"),
        (lambda: moves.answer(at_stage(Stage.RESOLVED), act(5), Answer.NONE, ""), "answer"),
        (
            lambda: moves.route(at_stage(Stage.ESCALATED), act(5), UNIT, T0, ""),
            "due_time",
        ),
        (
            lambda: moves.consult(new_item(), act(), replace(MEETING, parties=PARTIES[:3])),
            "consultation.parties",
        ),
    ]
    for call, field in cases:
        with pytest.raises(InvalidArgument) as e:
            call()
        assert [v.field for v in e.value.violations] == [field]


def test_a_draft_names_every_bad_field() -> None:
    with pytest.raises(InvalidArgument) as e:
        check_draft(
            draft(
                summary="",
                category=None,
                contact=Contact("", "12345"),
                community_id="",
            )
        )
    fields = {v.field for v in e.value.violations}
    assert fields == {
        "item.summary",
        "item.category",
        "item.contact.name",
        "item.contact.phone",
        "item.community_id",
    }


def test_a_resident_without_a_phone_may_be_logged_by_someone_on_their_behalf() -> None:
    d = check_draft(draft(contact=Contact("测试·张大爷", "", "网格员 测试·王芳")))
    assert d.contact.phone == "" and d.contact.on_behalf_by == "网格员 测试·王芳"


def test_merging_gathers_items_of_one_street_only_and_never_the_matter_itself() -> None:
    matter = at_stage(Stage.ESCALATED, "m-1")
    with pytest.raises(MoveRefused):
        moves.merge(matter, [matter], act(5), "")
    other = replace(new_item(), id="i-9", street_id="s-2")
    with pytest.raises(MoveRefused):
        moves.merge(matter, [other], act(5), "")
    after, gathered = moves.merge(matter, [new_item()], act(5), "同一小区供暖")
    assert gathered[0].merged_into == "m-1" and gathered[0].escalated
    assert after.history[-1].action == "merged_in"


def test_only_those_who_handle_an_item_see_its_contact() -> None:
    i = moves.route(at_stage(Stage.ESCALATED), act(5), UNIT, None, "")
    staff = Principal("s", Role.COMMUNITY_STAFF, frozenset({"c-1"}))
    other_staff = Principal("o", Role.COMMUNITY_STAFF, frozenset({"c-2"}))
    street = Principal("a", Role.STREET_ADMIN, street_ids=frozenset({"s-1"}))
    district = Principal("d", Role.DISTRICT_ADMIN)
    handler = Principal("unit-account", Role.COMMUNITY_STAFF, frozenset({"c-9"}))
    assert [sees(p, i) for p in (staff, other_staff, street, district, handler)] == [
        True,
        False,
        True,
        True,
        True,
    ]
    assert [sees_contact(p, i) for p in (staff, street, district, handler)] == [
        True,
        False,
        False,
        True,
    ]
    shown, masked = for_caller(street, i)
    assert masked and shown.contact.phone == "199****1111" and "李娟" not in shown.contact.name


def test_the_ledger_counts_where_items_were_solved_and_how_residents_answered() -> None:
    a = moves.answer(at_stage(Stage.RESOLVED), act(5), Answer.SATISFIED, "")
    routed = replace(at_stage(Stage.ROUTED), id="i-2")
    b = moves.answer(moves.resolve(routed, act(5), "修了"), act(6), Answer.NOT_SATISFIED, "")
    b = moves.answer(moves.resolve(b, act(7), "又修了"), act(8), Answer.SATISFIED, "")
    c = replace(new_item(), id="i-3", ever_overdue=True)
    communities, streets, total = ledger([a, b, c])
    assert (total.raised, total.solved_in_community, total.escalated, total.solved_in_street) == (
        3,
        1,
        1,
        1,
    )
    assert total.overdue == 1 and total.closed == 2
    assert total.satisfaction_rate == round(2 / 3, 4)
    assert [f.scope_id for f in communities] == ["c-1"] and [f.scope_id for f in streets] == ["s-1"]


# -- properties ------------------------------------------------------------------------------

MOVE_NAMES = sorted(set(MOVES) - {"merge", "merge_into"})


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.sampled_from(MOVE_NAMES), st.booleans()), max_size=25))
def test_whatever_the_moves_the_history_only_grows_and_closing_needs_an_outcome_and_a_yes(
    steps: list[tuple[str, bool]],
) -> None:
    item = new_item()
    for n, (name, satisfied) in enumerate(steps, start=1):
        a = act(n)
        before = item
        try:
            if name == "answer":
                given_answer = Answer.SATISFIED if satisfied else Answer.NOT_SATISFIED
                item = moves.answer(item, a, given_answer, "")
            elif name == "link":
                item = moves.link_task(item, a, f"task-{n}")
            else:
                item = MOVES[name](item, a)
        except MoveRefused:
            assert item == before
            continue
        assert item.history[: len(before.history)] == before.history
        assert len(item.history) == len(before.history) + 1
        assert item.history[-1].stage is item.stage
        if item.stage is Stage.CLOSED:
            assert before.stage is Stage.RESOLVED and before.outcome
            assert item.answer is Answer.SATISFIED and item.closed_at is not None
        if item.stage.final:
            assert item.due_at is None
        else:
            assert item.due_at is not None and item.closed_at is None
