"""The registry's member rules (services/registry/domain/member.py): validity, updates, masking,
scope."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.auth import Principal, Role
from services.common.checks import NAME_MAX, REQUEST_ID_MAX, Violations, check_request_id
from services.common.errors import InvalidArgument
from services.common.settings import Bounds
from services.common.skills import SKILL_CODES, SKILLS
from services.common.values import LatLng, WeeklyWindow
from services.registry.domain.member import (
    HOURS_MAX,
    SKILLS_MAX,
    UPDATABLE,
    WINDOWS_MAX,
    MemberData,
    apply_update,
    mask_phone,
    may_manage,
    may_see_private,
    validate_member,
)
from services.registry.domain.org import check_org_id

# Explicit values, so that no environment variable can move the box under the tests.
BOUNDS = Bounds(min_lat=36.90, min_lng=117.05, max_lat=37.06, max_lng=117.30)
ASCII_PHONE = re.compile(r"1[3-9][0-9]{9}")
SAT = 6


def member(**changes: object) -> MemberData:
    """A valid member who has reported in to Binhu; `changes` replace single fields."""
    data = MemberData(
        name="测试·王芳",
        phone="17000000001",
        home=LatLng(36.9648, 117.1602),
        unit_id="u001",
        skills=(("tutoring", 2), ("first_aid", 1)),
        availability=(WeeklyWindow(SAT, 8 * 60, 12 * 60), WeeklyWindow(1, 18 * 60, 20 * 60)),
        hours_per_month=10,
        community_id="binhu",
        grid_id="binhu-g01",
        building_group_id="binhu-g01-b01",
    )
    return replace(data, **changes)  # type: ignore[arg-type]


def violations_of(data: MemberData) -> dict[str, str]:
    """field -> description of every violation; {} when the member is valid."""
    try:
        validate_member(data, BOUNDS)
    except InvalidArgument as e:
        return {v.field: v.description for v in e.violations}
    return {}


def fields_of(data: MemberData) -> set[str]:
    return set(violations_of(data))


# ---------------------------------------------------------------------------------------------
# A whole member


def test_accepts_a_well_formed_member_and_returns_it_unchanged() -> None:
    assert validate_member(member(), BOUNDS) == member()


def test_accepts_a_member_who_has_not_reported_in_anywhere() -> None:
    data = member(community_id=None, grid_id=None, building_group_id=None, unit_id=None)
    assert validate_member(data, BOUNDS) == data


def test_names_every_bad_field_in_one_error() -> None:
    data = member(
        name="",
        phone="12345",
        home=LatLng(39.9, 116.4),
        skills=(("juggling", 2), ("tutoring", 9)),
        availability=(WeeklyWindow(8, 60, 120),),
        hours_per_month=-1,
        community_id="Binhu",
    )
    assert fields_of(data) == {
        "member.name",
        "member.phone",
        "member.home",
        "member.skills[0].skill",
        "member.skills[1].level",
        "member.availability[0].day",
        "member.hours_per_month",
        "member.community_id",
    }


def test_the_error_message_lists_the_first_five_violations_and_counts_the_rest() -> None:
    data = member(name="", phone="1", home=None, hours_per_month=500, community_id="X", unit_id="Y")
    with pytest.raises(InvalidArgument) as caught:
        validate_member(data, BOUNDS)
    assert len(caught.value.violations) == 6
    assert caught.value.message.endswith("(and 1 more)")
    assert "member.name: must not be empty" in caught.value.message


def test_uses_the_prefix_it_is_given_for_field_names() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_member(member(name=""), BOUNDS, prefix="members[3].")
    assert [v.field for v in caught.value.violations] == ["members[3].name"]


# ---------------------------------------------------------------------------------------------
# Name


def test_trims_the_name_and_normalises_it_to_nfc() -> None:
    decomposed = "  测试·Zoe\u0301  "  # e + combining acute accent
    assert validate_member(member(name=decomposed), BOUNDS).name == "测试·Zoé"


@pytest.mark.parametrize("name", ["", "   ", "\u3000"])
def test_rejects_a_name_that_is_empty_after_trimming(name: str) -> None:
    assert violations_of(member(name=name)) == {"member.name": "must not be empty"}


def test_accepts_a_name_of_exactly_forty_characters() -> None:
    assert fields_of(member(name="测" * NAME_MAX)) == set()


def test_rejects_a_name_of_forty_one_characters() -> None:
    assert fields_of(member(name="测" * (NAME_MAX + 1))) == {"member.name"}


@pytest.mark.parametrize("name", ["王\n芳", "王\t芳", "王\x00芳", "王\u200b芳", "王\x7f芳"])
def test_rejects_a_name_with_a_control_or_format_character_inside(name: str) -> None:
    assert violations_of(member(name=name)) == {
        "member.name": "must not contain control characters"
    }


@given(st.text(max_size=50))
def test_a_name_is_accepted_exactly_when_it_is_one_to_forty_clean_characters(name: str) -> None:
    cleaned = unicodedata.normalize("NFC", name).strip()
    should_pass = 1 <= len(cleaned) <= NAME_MAX and not any(
        unicodedata.category(c).startswith("C") for c in cleaned
    )
    bad = fields_of(member(name=name))
    assert bad == (set() if should_pass else {"member.name"})
    if should_pass:
        assert validate_member(member(name=name), BOUNDS).name == cleaned


# ---------------------------------------------------------------------------------------------
# Phone


@pytest.mark.parametrize(
    "phone",
    ["13800138000", "+8613800138000", "+86 138 0013 8000", "138-0013-8000", "  19912345678  "],
)
def test_accepts_a_mainland_mobile_and_stores_it_as_eleven_digits(phone: str) -> None:
    stored = validate_member(member(phone=phone), BOUNDS).phone
    assert ASCII_PHONE.fullmatch(stored)
    assert stored == phone.strip().removeprefix("+86").replace(" ", "").replace("-", "")


@pytest.mark.parametrize(
    "phone",
    [
        "1380013800",  # ten digits
        "138001380000",  # twelve digits
        "12800138000",  # second digit 2
        "23800138000",  # does not start with 1
        "8613800138000",  # country code without +
        "+85213800138000",  # Hong Kong prefix
        "1380013800a",
        "",
        "(138)00138000",
    ],
)
def test_rejects_a_phone_that_is_not_a_mainland_mobile(phone: str) -> None:
    assert fields_of(member(phone=phone)) == {"member.phone"}


def test_rejects_a_phone_with_ten_digits() -> None:
    assert violations_of(member(phone="1380013800")) == {
        "member.phone": "must be a mainland mobile number: 11 digits starting with 13-19"
    }


@settings(max_examples=50)
@given(
    st.from_regex(ASCII_PHONE, fullmatch=True),
    st.sampled_from(["", "+86", "+86 ", "+86-"]),
    st.lists(st.sampled_from([" ", "-"]), max_size=3),
    st.data(),
)
def test_any_decorated_mainland_mobile_is_accepted_as_its_bare_digits(
    digits: str, country: str, separators: list[str], data: st.DataObject
) -> None:
    chars = list(digits)
    for sep in separators:
        chars.insert(data.draw(st.integers(1, len(chars) - 1)), sep)
    assert validate_member(member(phone=country + "".join(chars)), BOUNDS).phone == digits


@given(st.text(alphabet="0123456789+- \t", max_size=20))
def test_never_accepts_a_phone_that_does_not_normalise_to_the_pattern(phone: str) -> None:
    try:
        stored = validate_member(member(phone=phone), BOUNDS).phone
    except InvalidArgument as e:
        assert [v.field for v in e.violations] == ["member.phone"]
    else:
        assert ASCII_PHONE.fullmatch(stored)


@given(
    st.sampled_from("3456789"),
    st.text(alphabet="0123456789０１２３４５６７８９٠١٢٣٤٥٦٧٨٩", min_size=9, max_size=9),
)
def test_never_accepts_a_phone_with_non_ascii_digits(second: str, rest: str) -> None:
    phone = "1" + second + rest
    try:
        stored = validate_member(member(phone=phone), BOUNDS).phone
    except InvalidArgument:
        return
    assert ASCII_PHONE.fullmatch(stored), f"accepted and stored {stored!r}"


def test_rejects_a_phone_with_a_newline_inside() -> None:
    assert fields_of(member(phone="13800138000\n -")) == {"member.phone"}


# ---------------------------------------------------------------------------------------------
# Home


def test_requires_a_home() -> None:
    assert violations_of(member(home=None)) == {"member.home": "is required"}


@pytest.mark.parametrize(
    "home", [LatLng(math.nan, 117.17), LatLng(36.98, math.inf), LatLng(-math.inf, 117.17)]
)
def test_rejects_a_home_that_is_not_a_finite_point(home: LatLng) -> None:
    assert violations_of(member(home=home)) == {"member.home": "must be finite numbers"}


@pytest.mark.parametrize(
    "home",
    [
        LatLng(36.89999, 117.17),
        LatLng(37.06001, 117.17),
        LatLng(36.98, 117.04999),
        LatLng(36.98, 117.30001),
        LatLng(39.9042, 116.4074),
    ],
)
def test_rejects_a_home_outside_the_district(home: LatLng) -> None:
    assert "lies outside the district" in violations_of(member(home=home))["member.home"]


@pytest.mark.parametrize(
    "home", [LatLng(36.90, 117.05), LatLng(37.06, 117.30), LatLng(36.90, 117.30)]
)
def test_accepts_a_home_on_the_edge_of_the_district(home: LatLng) -> None:
    assert fields_of(member(home=home)) == set()


@given(
    st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True)
)
def test_a_home_is_accepted_exactly_when_it_lies_inside_the_bounds(lat: float, lng: float) -> None:
    inside = 36.90 <= lat <= 37.06 and 117.05 <= lng <= 117.30
    assert fields_of(member(home=LatLng(lat, lng))) == (set() if inside else {"member.home"})


# ---------------------------------------------------------------------------------------------
# Skills


def test_rejects_an_unknown_skill() -> None:
    assert violations_of(member(skills=(("tutoring", 1), ("juggling", 2)))) == {
        "member.skills[1].skill": "unknown skill 'juggling' (see ListSkills)"
    }


def test_rejects_a_skill_declared_twice_naming_the_second() -> None:
    assert violations_of(member(skills=(("tutoring", 1), ("cooking", 2), ("tutoring", 3)))) == {
        "member.skills[2].skill": "'tutoring' appears twice"
    }


@given(st.integers(-5, 10))
def test_a_skill_level_is_accepted_exactly_from_one_to_three(level: int) -> None:
    bad = fields_of(member(skills=(("medical", level),)))
    assert bad == (set() if 1 <= level <= 3 else {"member.skills[0].level"})


def test_accepts_no_skills_at_all() -> None:
    assert fields_of(member(skills=())) == set()


def test_rejects_more_than_twenty_skills() -> None:
    skills = tuple((s.code, 1) for s in SKILLS[: SKILLS_MAX + 1])
    assert violations_of(member(skills=skills)) == {"member.skills": "at most 20 skills"}
    assert fields_of(member(skills=skills[:SKILLS_MAX])) == set()


def test_the_catalogue_codes_are_unique() -> None:
    assert len(SKILL_CODES) == len(SKILLS)


# ---------------------------------------------------------------------------------------------
# Availability


@st.composite
def separate_windows(draw: st.DrawFn, most: int = WINDOWS_MAX) -> list[WeeklyWindow]:
    """Well-formed windows in any order, none overlapping another (touching is fine)."""
    kept: list[WeeklyWindow] = []
    wanted = st.tuples(st.integers(1, 7), st.integers(0, 1439), st.integers(1, 600))
    for day, start, length in draw(st.lists(wanted, max_size=most)):
        w = WeeklyWindow(day, start, min(start + length, 1440))
        if all(k.day != w.day or k.end <= w.start or w.end <= k.start for k in kept):
            kept.append(w)
    return kept


FEW = settings(max_examples=50)


@FEW
@given(separate_windows())
def test_any_set_of_separate_well_formed_windows_is_accepted(windows: list[WeeklyWindow]) -> None:
    assert len(windows) <= WINDOWS_MAX
    assert fields_of(member(availability=tuple(windows))) == set()


@FEW
@given(separate_windows(most=WINDOWS_MAX - 1), st.data())
def test_a_window_overlapping_an_earlier_one_on_the_same_day_is_named(
    windows: list[WeeklyWindow], data: st.DataObject
) -> None:
    earlier = data.draw(st.sampled_from(windows)) if windows else WeeklyWindow(3, 600, 660)
    if not windows:
        windows = [earlier]
    start = data.draw(st.integers(earlier.start, earlier.end - 1))
    end = data.draw(st.integers(start + 1, 1440))
    later = WeeklyWindow(earlier.day, start, end)
    bad = violations_of(member(availability=(*windows, later)))
    assert bad[f"member.availability[{len(windows)}]"] == "overlaps another window on the same day"
    assert all(f.startswith("member.availability[") for f in bad)


@FEW
@given(separate_windows(most=WINDOWS_MAX - 1), st.data())
def test_any_overlap_on_one_day_rejects_the_member(
    windows: list[WeeklyWindow], data: st.DataObject
) -> None:
    other = data.draw(st.sampled_from(windows)) if windows else WeeklyWindow(3, 600, 660)
    if not windows:
        windows = [other]
    # Any window sharing at least one minute with `other`, put anywhere in the list.
    start = data.draw(st.integers(0, other.end - 1))
    end = data.draw(st.integers(max(start, other.start) + 1, 1440))
    at = data.draw(st.integers(0, len(windows)))
    bad = fields_of(
        member(availability=(*windows[:at], WeeklyWindow(other.day, start, end), *windows[at:]))
    )
    assert bad
    assert all(re.fullmatch(r"member\.availability\[\d+\]", f) for f in bad)


def test_windows_that_only_touch_do_not_overlap() -> None:
    windows = (
        WeeklyWindow(SAT, 480, 720),
        WeeklyWindow(SAT, 720, 1020),
        WeeklyWindow(SAT, 1020, 1440),
    )
    assert fields_of(member(availability=windows)) == set()


def test_the_same_hours_on_different_days_do_not_overlap() -> None:
    windows = tuple(WeeklyWindow(day, 1110, 1260) for day in range(1, 8))
    assert fields_of(member(availability=windows)) == set()


def test_names_every_window_that_overlaps_a_long_window() -> None:
    # Saturday 08:00-18:00 contains both 09:00-10:00 and 11:00-12:00.
    windows = (
        WeeklyWindow(SAT, 480, 1080),
        WeeklyWindow(SAT, 540, 600),
        WeeklyWindow(SAT, 660, 720),
    )
    assert fields_of(member(availability=windows)) == {
        "member.availability[1]",
        "member.availability[2]",
    }


@pytest.mark.parametrize(
    ("window", "field"),
    [
        (WeeklyWindow(0, 60, 120), "day"),
        (WeeklyWindow(8, 60, 120), "day"),
        (WeeklyWindow(1, -1, 120), "start_minute"),
        (WeeklyWindow(1, 1440, 1441), "start_minute"),
        (WeeklyWindow(1, 600, 600), "end_minute"),
        (WeeklyWindow(1, 600, 540), "end_minute"),
        (WeeklyWindow(1, 600, 1441), "end_minute"),
    ],
)
def test_rejects_a_malformed_window_naming_the_bad_part(window: WeeklyWindow, field: str) -> None:
    assert f"member.availability[0].{field}" in fields_of(member(availability=(window,)))


def test_accepts_a_window_that_ends_at_midnight() -> None:
    assert fields_of(member(availability=(WeeklyWindow(7, 1200, 1440),))) == set()


def test_a_malformed_window_is_not_also_reported_as_overlapping() -> None:
    windows = (WeeklyWindow(1, 600, 700), WeeklyWindow(1, 650, 640))
    assert fields_of(member(availability=windows)) == {"member.availability[1].end_minute"}


def test_rejects_more_than_twenty_eight_windows() -> None:
    windows = tuple(WeeklyWindow(day, 60 * h, 60 * h + 30) for day in range(1, 8) for h in range(5))
    assert "member.availability" in fields_of(member(availability=windows))


# ---------------------------------------------------------------------------------------------
# Hours and places


@given(st.integers(-1000, 1000))
def test_hours_a_month_are_accepted_exactly_from_zero_to_two_hundred(hours: int) -> None:
    bad = fields_of(member(hours_per_month=hours))
    assert bad == (set() if 0 <= hours <= HOURS_MAX else {"member.hours_per_month"})


def test_requires_a_community_when_a_grid_is_given() -> None:
    assert violations_of(member(community_id=None)) == {
        "member.community_id": "is required when grid_id is given"
    }


def test_requires_a_grid_to_report_in_to_a_community() -> None:
    assert violations_of(member(grid_id=None, building_group_id=None)) == {
        "member.grid_id": "is required to report in to a community"
    }


def test_requires_a_grid_when_a_building_group_is_given() -> None:
    data = member(community_id=None, grid_id=None)
    assert violations_of(data) == {"member.grid_id": "is required when building_group_id is given"}


def test_a_building_group_is_optional() -> None:
    assert fields_of(member(building_group_id=None)) == set()


@pytest.mark.parametrize("field", ["community_id", "grid_id", "building_group_id", "unit_id"])
def test_rejects_a_malformed_place_or_unit_id(field: str) -> None:
    assert fields_of(member(**{field: "Binhu G1"})) == {f"member.{field}"}


# ---------------------------------------------------------------------------------------------
# Ids


@pytest.mark.parametrize(
    "value", ["ab", "binhu", "binhu-g01-b01", "u001", "u-chengli-primary", "a" * 64]
)
def test_accepts_a_well_formed_org_id(value: str) -> None:
    v = Violations()
    check_org_id(v, "id", value)
    assert v.items == []


@pytest.mark.parametrize(
    "value", ["", "a", "a" * 65, "1abc", "-abc", "abc-", "Binhu", "bin hu", "bin_hu", "滨湖"]
)
def test_rejects_a_malformed_org_id(value: str) -> None:
    v = Violations()
    check_org_id(v, "id", value)
    assert [x.field for x in v.items] == ["id"]


def test_rejects_an_org_id_that_ends_in_a_newline() -> None:
    v = Violations()
    check_org_id(v, "id", "binhu\n")
    assert [x.field for x in v.items] == ["id"]


def test_a_request_id_is_trimmed() -> None:
    v = Violations()
    assert check_request_id(v, "  req-1  ") == "req-1"
    assert v.items == []


@pytest.mark.parametrize("value", ["", "   "])
def test_a_request_id_is_required(value: str) -> None:
    v = Violations()
    check_request_id(v, value)
    assert [(x.field, x.description.startswith("is required")) for x in v.items] == [
        ("request_id", True)
    ]


@pytest.mark.parametrize("value", ["r" * (REQUEST_ID_MAX + 1), "req\x001", "req\n1"])
def test_rejects_a_request_id_too_long_or_not_printable(value: str) -> None:
    v = Violations()
    check_request_id(v, value)
    assert [x.field for x in v.items] == ["request_id"]


def test_accepts_a_request_id_of_sixty_four_characters() -> None:
    v = Violations()
    check_request_id(v, "r" * REQUEST_ID_MAX)
    assert v.items == []


# ---------------------------------------------------------------------------------------------
# Updates


def test_an_update_changes_only_the_named_fields() -> None:
    new = member(name="测试·李强", phone="17000000002", hours_per_month=40)
    updated = apply_update(member(), new, ["name"], BOUNDS)
    assert updated == member(name="测试·李强")


def test_an_update_cleans_and_validates_the_result() -> None:
    new = member(phone="+86 170-0000-0009")
    assert apply_update(member(), new, ["phone"], BOUNDS).phone == "17000000009"
    with pytest.raises(InvalidArgument) as caught:
        apply_update(member(), member(hours_per_month=999), ["hours_per_month"], BOUNDS)
    assert [v.field for v in caught.value.violations] == ["member.hours_per_month"]


def test_an_update_with_an_empty_mask_is_rejected() -> None:
    with pytest.raises(InvalidArgument) as caught:
        apply_update(member(), member(name="测试·李强"), [], BOUNDS)
    assert [(v.field, v.description) for v in caught.value.violations] == [
        ("update_mask", "must name at least one field")
    ]


def test_an_update_names_every_path_that_may_not_be_updated() -> None:
    with pytest.raises(InvalidArgument) as caught:
        apply_update(member(), member(), ["name", "community_id", "id", "home.lat"], BOUNDS)
    descriptions = [v.description for v in caught.value.violations]
    assert [v.field for v in caught.value.violations] == ["update_mask"] * 3
    for path in ("community_id", "id", "home.lat"):
        assert any(d.startswith(f"{path!r} cannot be updated") for d in descriptions)


def test_a_path_named_twice_is_applied_once() -> None:
    updated = apply_update(member(), member(hours_per_month=30), ["hours_per_month"] * 2, BOUNDS)
    assert updated.hours_per_month == 30


@given(st.sets(st.sampled_from(sorted(UPDATABLE)), min_size=1))
def test_an_update_takes_masked_fields_from_the_request_and_keeps_the_rest(
    paths: set[str],
) -> None:
    current = member()
    new = MemberData(
        name="测试·赵敏",
        phone="17000000003",
        home=LatLng(36.99, 117.18),
        unit_id="u002",
        skills=(("cooking", 3),),
        availability=(WeeklyWindow(7, 900, 1020),),
        hours_per_month=5,
        community_id="yinshan",
        grid_id="yinshan-g02",
        building_group_id=None,
    )
    updated = apply_update(current, new, sorted(paths), BOUNDS)
    for f in UPDATABLE:
        assert getattr(updated, f) == getattr(new if f in paths else current, f)
    for f in ("community_id", "grid_id", "building_group_id"):
        assert getattr(updated, f) == getattr(current, f)


# ---------------------------------------------------------------------------------------------
# Masking and who may see what


def test_masks_a_phone_to_its_first_three_and_last_two_digits() -> None:
    assert mask_phone("13812345678") == "138******78"


@given(st.from_regex(ASCII_PHONE, fullmatch=True))
def test_a_masked_phone_shows_at_most_five_digits_so_a_million_numbers_share_it(
    phone: str,
) -> None:
    masked = mask_phone(phone)
    assert masked == phone[:3] + "******" + phone[-2:]
    assert sum(c.isdigit() for c in masked) <= 5


@given(st.text(alphabet="0123456789", max_size=10))
def test_a_phone_shorter_than_eleven_characters_is_hidden_whole(phone: str) -> None:
    assert mask_phone(phone) == "****"


STAFF_BINHU = Principal("staff-1", Role.COMMUNITY_STAFF, frozenset({"binhu", "yinshan"}))
STREET_JIYANG = Principal("admin-1", Role.STREET_ADMIN, street_ids=frozenset({"jiyang"}))


@pytest.mark.parametrize(
    ("principal", "member_id", "community", "street", "allowed"),
    [
        (Principal("m-1", Role.MEMBER), "m-1", "binhu", "jiyang", True),
        (Principal("m-1", Role.MEMBER), "m-1", None, None, True),
        (Principal("m-1", Role.MEMBER), "m-2", "binhu", "jiyang", False),
        (Principal("m-1", Role.MEMBER, frozenset({"binhu"})), "m-2", "binhu", "jiyang", False),
        (STAFF_BINHU, "m-2", "binhu", "jiyang", True),
        (STAFF_BINHU, "m-2", "yinshan", "jiyang", True),
        (STAFF_BINHU, "m-2", "huayang", "jiyang", False),
        (STAFF_BINHU, "m-2", None, "jiyang", False),
        (STAFF_BINHU, "staff-1", "huayang", "jiyang", False),
        (STREET_JIYANG, "m-2", "binhu", "jiyang", True),
        (STREET_JIYANG, "m-2", "yajuyuan", "jibei", False),
        (STREET_JIYANG, "m-2", "binhu", None, False),
        (Principal("d-1", Role.DISTRICT_ADMIN), "m-2", "yajuyuan", "jibei", True),
        (Principal("d-1", Role.DISTRICT_ADMIN), "m-2", None, None, True),
        (Principal("matcher", Role.SERVICE), "m-2", "binhu", "jiyang", True),
    ],
)
def test_who_may_see_and_manage_a_member(
    principal: Principal, member_id: str, community: str | None, street: str | None, allowed: bool
) -> None:
    assert may_see_private(principal, member_id, community, street) is allowed
    assert may_manage(principal, member_id, community, street) is allowed
