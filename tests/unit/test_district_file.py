"""The district file (services/registry/domain/district_file.py and domain/org.py): parsing,
lines of errors, rules of each entry."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dev.gen_district import generate, yaml_text
from services.common.errors import InvalidArgument
from services.common.settings import Bounds
from services.common.values import LatLng
from services.registry.domain.district_file import DistrictFile, parse_district
from services.registry.domain.org import (
    BuildingGroup,
    Community,
    Grid,
    Street,
    Unit,
    parent_of,
    validate_entry,
)

BOUNDS = Bounds(min_lat=36.90, min_lng=117.05, max_lat=37.06, max_lng=117.30)

EXAMPLE = """\
# A hand-written district, as in docs/district-file.md.
district:
  name: 济阳区（合成数据）
  bounds: {min_lat: 36.9, min_lng: 117.05, max_lat: 37.06, max_lng: 117.3}
streets:
  - id: jiyang
    name: 济阳街道
    communities:
      - id: binhu
        name: 滨湖社区
        station: {lat: 36.964854, lng: 117.160215}
        grids:
          - id: binhu-g01
            name: 滨湖第1网格
            center: {lat: 36.964845, lng: 117.159348}
            radius_m: 220
            building_groups:
              - {id: binhu-g01-b01, name: 翠湖1号院, location: {lat: 36.964214, lng: 117.159656}}
              - {id: binhu-g01-b02, name: 3号楼}
      - id: chengli
        name: 城里社区
        station: {lat: 36.975, lng: 117.165}
  - id: jibei
    name: 济北街道
units:
  - {id: u-chengli-primary, name: 区实验小学, kind: institution, community: chengli}
  - {id: u001, name: 区民政局, kind: government, community: binhu}
"""


def line_of(text: str, needle: str, nth: int = 1, *, exact: bool = False) -> int:
    """The 1-based number of the nth line of `text` that contains `needle` (or is it, trimmed)."""
    hits = [
        n
        for n, line in enumerate(text.splitlines(), start=1)
        if (line.strip() == needle if exact else needle in line)
    ]
    return hits[nth - 1]


def edited(old: str, new: str, text: str = EXAMPLE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def violations_of(text: str) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArgument) as caught:
        parse_district(text, BOUNDS)
    return [(v.field, v.description) for v in caught.value.violations]


def fields_of(text: str) -> list[str]:
    return [f for f, _ in violations_of(text)]


# ---------------------------------------------------------------------------------------------
# What a good file gives


def test_reads_every_entry_with_its_parent_and_line() -> None:
    d = parse_district(EXAMPLE, BOUNDS)

    def line(needle: str) -> int:
        return line_of(EXAMPLE, needle)

    assert d.streets == [
        Street("jiyang", "济阳街道", line("id: jiyang")),
        Street("jibei", "济北街道", line("id: jibei")),
    ]
    assert d.communities == [
        Community("binhu", "滨湖社区", "jiyang", LatLng(36.964854, 117.160215), line("id: binhu")),
        Community("chengli", "城里社区", "jiyang", LatLng(36.975, 117.165), line("id: chengli")),
    ]
    center = LatLng(36.964845, 117.159348)
    assert d.grids == [
        Grid("binhu-g01", "滨湖第1网格", "binhu", center, 220, line("- id: binhu-g01"))
    ]
    assert d.building_groups == [
        BuildingGroup(
            "binhu-g01-b01",
            "翠湖1号院",
            "binhu-g01",
            LatLng(36.964214, 117.159656),
            line("binhu-g01-b01"),
        ),
        BuildingGroup("binhu-g01-b02", "3号楼", "binhu-g01", None, line("binhu-g01-b02")),
    ]
    assert d.units == [
        Unit(
            "u-chengli-primary", "区实验小学", "institution", "chengli", line("u-chengli-primary")
        ),
        Unit("u001", "区民政局", "government", "binhu", line("u001")),
    ]


def test_lists_entries_parents_first() -> None:
    d = parse_district(EXAMPLE, BOUNDS)
    assert [e.kind for e in d.entries()] == [
        "street",
        "street",
        "community",
        "community",
        "grid",
        "building_group",
        "building_group",
        "unit",
        "unit",
    ]


@pytest.mark.parametrize(
    "text", ["streets: []\n", "streets:\nunits:\n", "district: {name: x}\n", "units: ~\n"]
)
def test_a_file_without_entries_is_an_empty_district(text: str) -> None:
    assert parse_district(text, BOUNDS) == DistrictFile([], [], [], [], [])


def test_each_entry_knows_the_entry_it_belongs_to() -> None:
    d = parse_district(EXAMPLE, BOUNDS)
    assert parent_of(d.grids[0]) == ("community", "binhu")
    assert parent_of(d.building_groups[0]) == ("grid", "binhu-g01")
    assert parent_of(d.units[0]) == ("community", "chengli")
    assert parent_of(d.communities[1]) == ("street", "jiyang")
    assert parent_of(d.streets[0]) is None


def test_an_entry_keeps_its_name_trimmed_as_it_was_checked() -> None:
    d = parse_district(edited("name: 滨湖社区", "name: '  滨湖社区 '"), BOUNDS)
    assert d.communities[0].name == "滨湖社区"


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 10**6))
@example(2018)  # the default seed, the one the demo loads
def test_a_generated_district_parses_with_the_case_figures(
    seed: int,
) -> None:
    text = yaml_text(generate(seed=seed, members=0))
    d = parse_district(text, BOUNDS)
    sizes = (len(d.streets), len(d.communities), len(d.grids), len(d.building_groups))
    assert (*sizes, len(d.units)) == (2, 16, 123, 510, 148)
    # Every entry remembers the line of its id.
    lines = text.splitlines()
    for entry in d.entries():
        assert f"id: {entry.id}" in lines[entry.line - 1]


# ---------------------------------------------------------------------------------------------
# Errors name their line


def test_rejects_a_grid_id_used_twice_naming_both_lines() -> None:
    second = """\
      - id: chengli
        name: 城里社区
        station: {lat: 36.975, lng: 117.165}
        grids:
          - {id: binhu-g01, name: 城里第1网格, center: {lat: 36.975, lng: 117.165}, radius_m: 200}
"""
    text = edited(second.partition("        grids:")[0], second)
    first, again = line_of(text, "- id: binhu-g01"), line_of(text, "- {id: binhu-g01,")
    assert violations_of(text) == [
        (f"line {again}: grid.id", f"'binhu-g01' already used on line {first}")
    ]


def test_rejects_a_community_id_used_in_two_streets() -> None:
    text = edited(
        "    name: 济北街道\n",
        "    name: 济北街道\n    communities:\n"
        "      - {id: binhu, name: 另一个社区, station: {lat: 37.0, lng: 117.2}}\n",
    )
    first, again = line_of(text, "- id: binhu", exact=True), line_of(text, "- {id: binhu,")
    assert violations_of(text) == [
        (f"line {again}: community.id", f"'binhu' already used on line {first}")
    ]


def test_rejects_an_id_used_by_two_kinds_of_entry() -> None:
    text = edited("- id: binhu-g01", "- id: binhu")
    assert fields_of(text) == [f"line {line_of(text, '- id: binhu', 2, exact=True)}: grid.id"]


@pytest.mark.parametrize(
    ("old", "new", "needle", "field"),
    [
        ("radius_m: 220", "radius_m: 220\n            colour: red", "colour", "grid.colour"),
        ("units:", "extra: 1\nunits:", "extra", "file.extra"),
        ("name: 济阳街道", "name: 济阳街道\n    leader: x", "leader", "street.leader"),
        ("lng: 117.160215}", "lng: 117.160215, alt: 12}", "alt: 12", "community.station.alt"),
        ("community: binhu}", "community: binhu, size: 3}", "size: 3", "unit.size"),
        ("name: 3号楼}", "name: 3号楼, floors: 6}", "floors", "building_group.floors"),
    ],
)
def test_rejects_an_unknown_field_on_its_own_line(
    old: str, new: str, needle: str, field: str
) -> None:
    text = edited(old, new)
    [(where, why)] = violations_of(text)
    assert where == f"line {line_of(text, needle)}: {field}"
    assert why.startswith("unknown field (expected ")


@pytest.mark.parametrize(
    ("old", "new", "entry_line", "field"),
    [
        ("    name: 济阳街道\n", "", "id: jiyang", "street.name"),
        ("        name: 滨湖社区\n", "", "id: binhu", "community.name"),
        ("        station: {lat: 36.975, lng: 117.165}\n", "", "id: chengli", "community.station"),
        ("            radius_m: 220\n", "", "- id: binhu-g01", "grid.radius_m"),
        ("{lat: 36.964845, lng: 117.159348}", "{lat: 36.964845}", "center:", "grid.center.lng"),
        (", kind: government", "", "u001", "unit.kind"),
        ("- {id: binhu-g01-b02, ", "- {", "3号楼", "building_group.id"),
    ],
)
def test_rejects_a_missing_required_field_at_the_line_of_its_entry(
    old: str, new: str, entry_line: str, field: str
) -> None:
    text = edited(old, new)
    expected = (f"line {line_of(text, entry_line)}: {field}", "is required")
    assert expected in violations_of(text)


@pytest.mark.parametrize(
    ("old", "new", "needle", "field"),
    [
        ("radius_m: 220", "radius_m: wide", "radius_m", "grid.radius_m"),
        ("{lat: 36.975,", "{lat: north,", "lat: north", "community.station.lat"),
        ("lng: 117.159348}", "lng: [117]}", "lng: [117]", "grid.center.lng"),
    ],
)
def test_rejects_a_value_that_is_not_a_number_on_its_line(
    old: str, new: str, needle: str, field: str
) -> None:
    text = edited(old, new)
    line = line_of(text, needle)
    assert any(
        where == f"line {line}: {field}" and why.startswith("must be a number")
        for where, why in violations_of(text)
    )


def test_reports_a_radius_that_is_not_a_number_only_once() -> None:
    text = edited("radius_m: 220", "radius_m: wide")
    assert fields_of(text) == [f"line {line_of(text, 'radius_m')}: grid.radius_m"]


@pytest.mark.parametrize("radius", ["nan", "inf", "-inf", "1e400"])
def test_rejects_a_radius_that_is_not_a_finite_number(radius: str) -> None:
    text = edited("radius_m: 220", f"radius_m: {radius}")
    assert f"line {line_of(text, 'radius_m')}: grid.radius_m" in fields_of(text)


@pytest.mark.parametrize(("lat", "lng"), [("36.89", "117.16"), ("36.96", "118.0"), (".nan", "1")])
def test_rejects_a_location_outside_the_district_or_not_finite(lat: str, lng: str) -> None:
    text = edited("{lat: 36.964854, lng: 117.160215}", f"{{lat: {lat}, lng: {lng}}}")
    fields = fields_of(text)
    assert f"line {line_of(text, '- id: binhu')}: community.station" in fields


@pytest.mark.parametrize(
    ("old", "new", "needle", "field"),
    [
        ("id: u001,", "id: u_001,", "u_001", "unit.id"),
        ("radius_m: 220", "radius_m: 5", "- id: binhu-g01", "grid.radius_m"),
        ("radius_m: 220", "radius_m: 5001", "- id: binhu-g01", "grid.radius_m"),
        ("kind: government", "kind: ngo", "u001", "unit.kind"),
        ("name: 城里社区", "name: ''", "- id: chengli", "community.name"),
        ("name: 3号楼", 'name: "3号\\t楼"', "3号", "building_group.name"),
        ("lat: 36.964214,", "lat: 40.0,", "b01", "building_group.location"),
    ],
)
def test_rejects_a_bad_value_at_the_line_of_its_entry(
    old: str, new: str, needle: str, field: str
) -> None:
    text = edited(old, new)
    assert fields_of(text) == [f"line {line_of(text, needle)}: {field}"]


@pytest.mark.parametrize(
    ("old", "new", "needle", "field"),
    [
        ("- id: jiyang", "- id: JiYang", "JiYang", "street.id"),
        ("- id: binhu\n", "- id: 1binhu\n", "1binhu", "community.id"),
    ],
)
def test_rejects_a_bad_parent_id_at_its_own_line(
    old: str, new: str, needle: str, field: str
) -> None:
    # Children repeat their parent's id, so they may be named too; the parent must be.
    text = edited(old, new)
    assert f"line {line_of(text, needle)}: {field}" in fields_of(text)


@pytest.mark.parametrize("radius", [10, 5000])
def test_accepts_a_radius_from_ten_to_five_thousand_metres(radius: int) -> None:
    d = parse_district(edited("radius_m: 220", f"radius_m: {radius}"), BOUNDS)
    assert d.grids[0].radius_m == radius


def test_reports_every_error_in_the_file_at_once() -> None:
    text = EXAMPLE
    for old, new in [
        ("name: 济北街道", "name: ''"),
        ("radius_m: 220", "radius_m: 2"),
        ("kind: government", "kind: ngo"),
        ("name: 滨湖社区", "name: 滨湖社区\n        motto: x"),
    ]:
        text = edited(old, new, text)
    assert sorted(fields_of(text)) == sorted(
        [
            f"line {line_of(text, '- id: jibei')}: street.name",
            f"line {line_of(text, '- id: binhu-g01')}: grid.radius_m",
            f"line {line_of(text, 'u001')}: unit.kind",
            f"line {line_of(text, 'motto')}: community.motto",
        ]
    )


def test_rejects_a_key_written_twice() -> None:
    text = edited("    name: 济阳街道\n", "    name: 济阳街道\n    name: 济阳二\n")
    assert violations_of(text) == [
        (f"line {line_of(text, '济阳二')}: street.name", "appears twice")
    ]


def test_rejects_invalid_yaml_naming_the_line() -> None:
    text = edited("    name: 济北街道\n", "   name: 济北街道\n")
    [(where, why)] = violations_of(text)
    assert where == f"line {line_of(text, '济北街道')}"
    assert why.startswith("not valid YAML")


def test_rejects_two_documents_in_one_file() -> None:
    [(where, why)] = violations_of("streets: []\n---\nunits: []\n")
    assert where == "line 2"
    assert "single document" in why


def test_names_the_line_of_a_character_yaml_does_not_allow() -> None:
    text = edited("name: 3号楼", "name: 3号\x07楼")
    [(where, _)] = violations_of(text)
    assert where == f"line {line_of(text, '3号')}"


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing here\n"])
def test_rejects_an_empty_file(text: str) -> None:
    assert violations_of(text) == [("file", "is empty")]


LIST = "must be a list"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- 1\n- 2\n", ("line 1: file", "must be a mapping (key: value)")),
        ("just words\n", ("line 1: file", "must be a mapping (key: value)")),
        ("district: {}\nstreets: 5\n", ("line 2: streets", "must be a list")),
        ("streets:\n  - jiyang\n", ("line 2: street", "must be a mapping (key: value)")),
        ("streets:\n  - {id: s, name: S, communities: x}\n", ("line 2: street.communities", LIST)),
        ("streets:\n  - {id: [s1], name: S}\n", ("line 2: street.id", "must be text")),
        ("streets:\n  - {id: s1, name: S}\nunits: {u1: x}\n", ("line 3: units", "must be a list")),
        (
            "streets:\n  - {id: s1, name: S, [a]: b}\n",
            ("line 2: street", "keys must be plain words"),
        ),
    ],
)
def test_rejects_a_file_of_the_wrong_shape(text: str, expected: tuple[str, str]) -> None:
    assert expected in violations_of(text)


TEMPLATE = """\
streets:
  - id: {0}
    name: {1}
    communities:
      - id: {2}
        name: {3}
        station: {{lat: {4}, lng: {5}}}
        grids:
          - id: {6}
            name: {7}
            center: {{lat: {8}, lng: {9}}}
            radius_m: 200
            building_groups:
              - {{id: {10}, name: {11}, location: {{lat: {12}, lng: {13}}}}}
units:
  - {{id: {14}, name: {15}, kind: {16}, community: {17}}}
"""
GOOD = ["s1", "S", "c1", "C", "36.98", "117.17", "g1", "G", "36.98", "117.17", "b1", "B",
        "36.98", "117.17", "u1", "U", "government", "c1"]  # fmt: skip
ODD_SCALARS = st.sampled_from(
    ["", "~", "null", "[]", "{}", "[1, 2]", "{a: 1}", "'x'", "1e3", "-0", "0x1f", ".inf", "true",
     '"a\\nb"', "&a x", "*a", "!!binary aGVsbG8=", "2001-12-14", "'1 2'", "-1e308", "? x"]
) | st.text(max_size=8)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(GOOD) - 1), ODD_SCALARS)
def test_any_odd_value_is_rejected_with_its_line_or_accepted(slot: int, value: str) -> None:
    values = list(GOOD)
    values[slot] = value
    try:
        parse_district(TEMPLATE.format(*values), BOUNDS)
    except InvalidArgument as e:
        assert e.violations
        for v in e.violations:
            assert v.field == "file" or v.field.startswith("line "), v


# ---------------------------------------------------------------------------------------------
# One entry's rules


@pytest.mark.parametrize(
    ("entry", "fields"),
    [
        (Street("jiyang", "济阳街道"), []),
        (Street("Jiyang", ""), ["x.id", "x.name"]),
        (Community("binhu", "滨湖社区", "jiyang", LatLng(36.96, 117.16)), []),
        (Community("binhu", "滨湖社区", "Jiyang", None), ["x.street_id", "x.station"]),
        (Grid("g1", "G", "binhu", LatLng(36.96, 117.16), 9), ["x.radius_m"]),
        (Grid("g1", "G", "binhu", LatLng(36.96, 117.16), 10), []),
        (Grid("g1", "G", "binhu", None, 5000), ["x.center"]),
        (Grid("g1", "G", "binhu", LatLng(36.96, 117.16), 5001), ["x.radius_m"]),
        (BuildingGroup("b1", "3号楼", "g1", None), []),
        (BuildingGroup("b1", "3号楼", "G 1", LatLng(0.0, 0.0)), ["x.grid_id", "x.location"]),
        (Unit("u1", "区民政局", "enterprise", "binhu"), []),
        (Unit("u1", "区民政局", "charity", "binhu!"), ["x.community_id", "x.kind"]),
    ],
)
def test_checks_the_fields_of_one_entry(entry: object, fields: list[str]) -> None:
    found = validate_entry(entry, BOUNDS, "x.")  # type: ignore[arg-type]
    assert sorted(v.field for v in found) == sorted(fields)


ALIAS_BOMB = """\
a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
streets: *i
"""


def test_refuses_an_alias_bomb_at_the_line_of_its_first_anchor() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_district(ALIAS_BOMB, BOUNDS)
    assert [(v.field, "aliases" in v.description) for v in caught.value.violations] == [
        ("line 1", True)
    ]


def test_refuses_any_anchor_or_alias_even_a_harmless_one() -> None:
    text = EXAMPLE.replace("{lat: 36.964854, lng: 117.160215}", "&s {lat: 36.96, lng: 117.16}", 1)
    with pytest.raises(InvalidArgument) as caught:
        parse_district(text, BOUNDS)
    assert caught.value.violations[0].field.startswith("line ")


@pytest.mark.parametrize("opener", ["[", "{a: "])
def test_refuses_nesting_deeper_than_the_limit_at_its_line(opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    text = "streets: " + opener * 3000 + closer * 3000 + "\n"
    with pytest.raises(InvalidArgument) as caught:
        parse_district(text, BOUNDS, max_depth=24)
    (v,) = caught.value.violations
    assert v.field == "line 1" and "24 levels" in v.description


def test_refuses_a_file_larger_than_the_limit_before_reading_it() -> None:
    text = EXAMPLE + "#" * 2000 + "\n"
    with pytest.raises(InvalidArgument) as caught:
        parse_district(text, BOUNDS, max_bytes=len(EXAMPLE.encode()) + 100)
    assert [v.field for v in caught.value.violations] == ["content"]


def test_the_generated_full_district_fits_the_default_limits() -> None:
    text = yaml_text(generate(seed=2018, members=0))
    assert len(parse_district(text, BOUNDS).building_groups) == 510
