"""The organisation's rules (services/registry/domain/org.py): which entries a write creates, and
whether the places a member names exist and fit together."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.common.values import LatLng
from services.registry.domain.org import (
    Community,
    Grid,
    OrgEntry,
    Placement,
    Places,
    Street,
    Unit,
    place_violations,
    plan_write,
    wanted_ids,
)

STATION = LatLng(36.9648, 117.1602)
JIYANG = Street("jiyang", "济阳街道")
BINHU = Community("binhu", "滨湖社区", "jiyang", STATION)


def test_new_entries_are_created_and_those_already_there_as_given_are_unchanged() -> None:
    grid = Grid("binhu-g01", "滨湖第1网格", "binhu", STATION, 200)
    existing: dict[tuple[str, str], OrgEntry] = {("street", "jiyang"): JIYANG}
    plan = plan_write([JIYANG, BINHU, grid], existing)
    assert plan.new["community"] == [BINHU] and plan.new["grid"] == [grid]
    assert plan.unchanged == 1 and plan.stored == [JIYANG, BINHU, grid]
    assert plan.counts() == {
        "street": 0,
        "community": 1,
        "grid": 1,
        "building_group": 0,
        "unit": 0,
    }


def test_an_entry_compares_by_content_with_coordinates_rounded() -> None:
    stored = Community("binhu", "滨湖社区", "jiyang", LatLng(36.96480000001, 117.1602))
    plan = plan_write([BINHU], {("street", "jiyang"): JIYANG, ("community", "binhu"): stored})
    assert plan.unchanged == 1 and plan.stored == [stored]


def test_other_content_and_a_missing_parent_are_named_with_their_lines() -> None:
    renamed = Street("jiyang", "改名", line=3)
    orphan = Unit("u001", "区民政局", "government", "nowhere", line=9)
    with pytest.raises(InvalidArgument) as err:
        plan_write([renamed, orphan], {("street", "jiyang"): JIYANG})
    assert [v.field for v in err.value.violations] == [
        "line 3: street.id",
        "line 9: unit.community_id",
    ]


def test_a_write_looks_up_its_entries_and_their_parents() -> None:
    grid = Grid("binhu-g01", "滨湖第1网格", "binhu", STATION, 200)
    assert sorted(wanted_ids([grid, BINHU], "community")) == ["binhu"]
    assert wanted_ids([grid], "street") == []
    assert wanted_ids([BINHU], "street") == ["jiyang"]


PLACES = Places(
    streets={"binhu": "jiyang", "yinshan": "jiyang"},
    grid_community={"binhu-g01": "binhu", "yinshan-g01": "yinshan"},
    group_grid={"binhu-g01-b01": "binhu-g01"},
    units=frozenset({"u001"}),
)


def test_places_that_exist_and_fit_together_pass() -> None:
    assert (
        place_violations(Placement("binhu", "binhu-g01", "binhu-g01-b01", "u001"), PLACES, "") == []
    )


def test_a_grid_of_another_community_and_a_group_of_another_grid_are_named() -> None:
    wrong = Placement("yinshan", "binhu-g01", None)
    assert [v.field for v in place_violations(wrong, PLACES, "member.")] == ["member.grid_id"]
    wrong = Placement("yinshan", "yinshan-g01", "binhu-g01-b01")
    assert [v.field for v in place_violations(wrong, PLACES, "")] == ["building_group_id"]


def test_every_unknown_place_is_named() -> None:
    unknown = Placement("nowhere", "nowhere-g01", "nowhere-b01", "u999")
    assert [v.field for v in place_violations(unknown, PLACES, "")] == [
        "community_id",
        "grid_id",
        "building_group_id",
        "unit_id",
    ]
