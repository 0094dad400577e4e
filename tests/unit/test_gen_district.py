"""Tests for the synthetic district generator (dev/gen_district.py and dev/district/): a district
shaped like the case, consistent, readable by the members file reader, and the same bytes for the
same seed."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from dev.district.names import AFFINITIES, SKILL_WEIGHTS
from dev.gen_district import (
    CSV_COLUMNS,
    District,
    counts,
    csv_text,
    generate,
    write,
    yaml_text,
)
from linli.v1 import registry_pb2
from services.cli.district import member_from_row
from services.common.protoconv import enum_words
from services.common.skills import SKILL_CODES
from services.common.values import distance_m

UNIT_KINDS = set(enum_words(registry_pb2.UnitKind.DESCRIPTOR, "UNIT_KIND_").values())

ID_RE = re.compile(r"^[a-z0-9-]+$")
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
NAMED = {
    "binhu": "滨湖社区",
    "yinshan": "银山社区",
    "huayang": "华阳社区",
    "chengli": "城里社区",
    "yajuyuan": "雅居园社区",
}


@pytest.fixture(scope="module")
def full() -> District:
    return generate()


@pytest.fixture(scope="module")
def small() -> District:
    return generate(small=True)


def _communities(d: District) -> list[dict[str, Any]]:
    return [c for s in d.org["streets"] for c in s["communities"]]


def _grids(d: District) -> dict[str, tuple[str, dict[str, Any]]]:
    """grid id -> (community id, grid)."""
    return {g["id"]: (c["id"], g) for c in _communities(d) for g in c["grids"]}


def _building_groups(d: District) -> dict[str, tuple[str, dict[str, Any]]]:
    """building group id -> (grid id, building group)."""
    return {b["id"]: (g["id"], b) for _, g in _grids(d).values() for b in g["building_groups"]}


def _skills(m: Mapping[str, Any]) -> list[tuple[str, int]]:
    """A member's skills as the members file reader reads them."""
    return [(s.skill, s.level) for s in member_from_row(m).member.skills]


def _windows(m: Mapping[str, Any]) -> list[tuple[int, int, int]]:
    """A member's weekly windows (ISO day, start minute, end minute) as the reader reads them."""
    return [(w.day, w.start_minute, w.end_minute) for w in member_from_row(m).member.availability]


def _inside_bounds(d: District, lat: float, lng: float) -> bool:
    b = d.org["district"]["bounds"]
    return b["min_lat"] <= lat <= b["max_lat"] and b["min_lng"] <= lng <= b["max_lng"]


def test_full_district_has_the_case_figures(full: District) -> None:
    assert counts(full) == {
        "streets": 2,
        "communities": 16,
        "grids": 123,
        "building_groups": 510,
        "units": 148,
        "members": 4628,
    }
    assert [(s["id"], s["name"]) for s in full.org["streets"]] == [
        ("jiyang", "济阳街道"),
        ("jibei", "济北街道"),
    ]


def test_named_communities_and_the_school_exist(full: District) -> None:
    names = {c["id"]: c["name"] for c in _communities(full)}
    for cid, name in NAMED.items():
        assert names[cid] == name
    assert all(n.endswith("社区") for n in names.values())
    units = {u["id"]: u for u in full.org["units"]}
    school = units["u-chengli-primary"]
    assert school["community"] == "chengli"
    assert school["kind"] == "institution"
    assert "小学" in school["name"]
    assert sorted(u for u in units if u != "u-chengli-primary") == [
        f"u{i:03d}" for i in range(1, 148)
    ]


def test_teachers_of_the_school_tutor_and_live_near_chengli(full: District) -> None:
    teachers = [m for m in full.members if m["unit_id"] == "u-chengli-primary"]
    assert len(teachers) == 35
    assert all(("tutoring", 3) in _skills(m) for m in teachers)
    chengli = next(c for c in _communities(full) if c["id"] == "chengli")["station"]
    assert Counter(m["community_id"] for m in teachers).most_common(1)[0][0] == "chengli"
    for m in teachers:
        assert distance_m(m["lat"], m["lng"], chengli["lat"], chengli["lng"]) < 3000


def test_qinghuayuan_is_in_chengli(full: District) -> None:
    where = {grid_id.split("-")[0] for grid_id, b in _building_groups(full).values()
             if b["name"].startswith("清华园")}  # fmt: skip
    assert where == {"chengli"}


@pytest.mark.parametrize("which", ["full", "small"])
def test_geometry_homes_and_buildings_lie_in_their_grid(
    which: str, request: pytest.FixtureRequest
) -> None:
    d: District = request.getfixturevalue(which)
    grids = _grids(d)
    for c in _communities(d):
        assert _inside_bounds(d, c["station"]["lat"], c["station"]["lng"])
        assert len(c["grids"]) >= 4
        for g in c["grids"]:
            assert 150 <= g["radius_m"] <= 300
            assert _inside_bounds(d, g["center"]["lat"], g["center"]["lng"])
            # Grids of one community stay together, within a couple of km of its station.
            s = c["station"]
            assert distance_m(s["lat"], s["lng"], g["center"]["lat"], g["center"]["lng"]) < 2000
            assert g["building_groups"]
            for b in g["building_groups"]:
                loc = b["location"]
                dist = distance_m(loc["lat"], loc["lng"], g["center"]["lat"], g["center"]["lng"])
                assert dist <= g["radius_m"]
    for m in d.members:
        _, g = grids[m["grid_id"]]
        assert (
            distance_m(m["lat"], m["lng"], g["center"]["lat"], g["center"]["lng"]) <= g["radius_m"]
        )
        assert _inside_bounds(d, m["lat"], m["lng"])


def test_urban_area_is_a_few_km_around_the_case_centre(full: District) -> None:
    centres = [g["center"] for _, g in _grids(full).values()]
    lat = sum(c["lat"] for c in centres) / len(centres)
    lng = sum(c["lng"] for c in centres) / len(centres)
    assert distance_m(lat, lng, 36.98, 117.17) < 1500
    assert max(distance_m(c["lat"], c["lng"], lat, lng) for c in centres) < 5000


def test_stations_of_different_communities_are_apart(full: District) -> None:
    stations = [c["station"] for c in _communities(full)]
    for i, a in enumerate(stations):
        for b in stations[i + 1 :]:
            assert distance_m(a["lat"], a["lng"], b["lat"], b["lng"]) > 500


@pytest.mark.parametrize("which", ["full", "small"])
def test_ids_are_unique_well_formed_and_nested(which: str, request: pytest.FixtureRequest) -> None:
    d: District = request.getfixturevalue(which)
    communities = _communities(d)
    ids = [c["id"] for c in communities]
    for c in communities:
        for k, g in enumerate(c["grids"], start=1):
            assert g["id"] == f"{c['id']}-g{k:02d}"
            ids.append(g["id"])
            for j, b in enumerate(g["building_groups"], start=1):
                assert b["id"] == f"{g['id']}-b{j:02d}"
                assert b["name"]
                ids.append(b["id"])
    ids += [u["id"] for u in d.org["units"]]
    assert len(ids) == len(set(ids))
    assert all(ID_RE.match(i) for i in ids)
    community_ids = {c["id"] for c in communities}
    for u in d.org["units"]:
        assert u["kind"] in UNIT_KINDS
        assert u["community"] in community_ids
        assert u["name"]
    assert len({u["name"] for u in d.org["units"]}) == len(d.org["units"])


@pytest.mark.parametrize("which", ["full", "small"])
def test_member_references_exist_and_belong(which: str, request: pytest.FixtureRequest) -> None:
    d: District = request.getfixturevalue(which)
    grids, bgs = _grids(d), _building_groups(d)
    unit_community = {u["id"]: u["community"] for u in d.org["units"]}
    own = 0
    for m in d.members:
        assert grids[m["grid_id"]][0] == m["community_id"]
        assert bgs[m["building_group_id"]][0] == m["grid_id"]
        assert m["unit_id"] in unit_community
        own += unit_community[m["unit_id"]] == m["community_id"]
    assert 0.35 < own / len(d.members) < 0.65


def test_members_spread_roughly_by_grid_count(full: District) -> None:
    per_community = Counter(m["community_id"] for m in full.members)
    per_grid = {c["id"]: per_community[c["id"]] / len(c["grids"]) for c in _communities(full)}
    mean = 4628 / 123
    assert all(0.7 * mean < v < 1.3 * mean for v in per_grid.values())


@pytest.mark.parametrize("which", ["full", "small"])
def test_members_identity_is_unique_and_clearly_synthetic(
    which: str, request: pytest.FixtureRequest
) -> None:
    d: District = request.getfixturevalue(which)
    phones = [m["phone"] for m in d.members]
    assert all(PHONE_RE.match(p) and p.startswith("17000") for p in phones)
    assert len(set(phones)) == len(phones)
    request_ids = [m["request_id"] for m in d.members]
    assert all(re.match(rf"^seed-{d.seed}-m\d{{5}}$", r) for r in request_ids)
    assert len(set(request_ids)) == len(request_ids)
    assert all(m["name"].startswith("测试·") and 4 <= len(m["name"]) <= 6 for m in d.members)


@pytest.mark.parametrize("which", ["full", "small"])
def test_skills_hours_and_availability_are_well_formed(
    which: str, request: pytest.FixtureRequest
) -> None:
    d: District = request.getfixturevalue(which)
    skill_counts: Counter[int] = Counter()
    for m in d.members:
        skills = _skills(m)
        assert len(skills) <= 4
        codes = [code for code, _ in skills]
        assert len(codes) == len(set(codes))
        assert all(code in SKILL_CODES and level in (1, 2, 3) for code, level in skills)
        skill_counts[len(skills)] += 1
        windows = _windows(m)
        for day, start, end in windows:
            assert 1 <= day <= 7
            assert 0 <= start < end <= 1440
        # Windows are listed by day and time and never overlap.
        keyed = windows
        assert keyed == sorted(keyed)
        for a, b in itertools.pairwise(keyed):
            assert a[0] < b[0] or a[2] < b[1]
        assert 0 <= m["hours_per_month"] <= 200
        if not windows:
            assert m["hours_per_month"] == 0
    assert set(skill_counts) == {0, 1, 2, 3, 4}
    hours = [m["hours_per_month"] for m in d.members]
    assert sum(4 <= h <= 20 for h in hours) > 0.6 * len(hours)
    unavailable = sum(not m["availability"] for m in d.members)
    assert 0 < unavailable < 0.15 * len(d.members)


def test_small_district_is_one_street(small: District) -> None:
    c = counts(small)
    assert c["streets"] == 1 and c["members"] == 300
    assert small.org["streets"][0]["id"] == "jiyang"
    ids = {x["id"] for x in _communities(small)}
    assert {"binhu", "chengli", "yinshan"} <= ids
    assert 4 <= c["communities"] <= 5
    assert 20 <= c["grids"] <= 30
    assert 80 <= c["building_groups"] <= 120
    assert 25 <= c["units"] <= 35
    assert "u-chengli-primary" in {u["id"] for u in small.org["units"]}


def test_member_count_is_adjustable_and_leaves_the_organisation_alone(full: District) -> None:
    d = generate(members=100)
    assert counts(d)["members"] == 100
    assert d.org == full.org
    assert sum(m["unit_id"] == "u-chengli-primary" for m in d.members) == 35


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, full: District) -> None:
    first = write(full, tmp_path / "a")
    second = write(generate(seed=2018), tmp_path / "b")
    other = write(generate(seed=7), tmp_path / "c")
    for x, y, z in zip(first, second, other, strict=True):
        assert x.read_bytes() == y.read_bytes()
        assert x.read_bytes() != z.read_bytes()
    assert [p.name for p in first] == ["district.yaml", "members.csv"]


def test_files_hold_what_generate_returned(tmp_path: Path, small: District) -> None:
    yaml_path, csv_path = write(small, tmp_path)
    text = yaml_path.read_text(encoding="utf-8")
    assert text == yaml_text(small)
    assert text.startswith("# SYNTHETIC DATA")
    assert "  - id: jiyang" in text  # list items indented under their key
    assert "清华园" in text  # written as is, not escaped
    assert yaml.safe_load(text) == small.org
    assert list(yaml.safe_load(text)) == ["district", "streets", "units"]
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8"))))
    assert csv_path.read_text(encoding="utf-8") == csv_text(small)
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(small.members)
    for row, m in zip(rows, small.members, strict=True):
        assert row == {k: str(v) for k, v in m.items()}


# The small district of the demo's seed, as files. The generator's output is its contract with the
# demo, the tests and the benchmarks that load it: a change to these digests is a change of the
# district, to be made on purpose (and the digests updated with it), never by a refactoring.
SMALL_2018_SHA256 = {
    "district.yaml": "f46f53609e2d8f768b95d4b8643b59370c1168e103e75b7a74e5fe3c6f02db50",
    "members.csv": "84d0a637f34aa0d33456b3412ff4c36e2a6a7aa1968421b60fc2588522864848",
}


def test_the_small_district_of_seed_2018_is_the_same_file_as_ever(tmp_path: Path) -> None:
    paths = write(generate(seed=2018, small=True), tmp_path)
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths} == SMALL_2018_SHA256


def test_the_generator_weighs_every_skill_of_the_catalogue_and_no_other() -> None:
    assert set(SKILL_WEIGHTS) == SKILL_CODES
    assert {code for _, codes in AFFINITIES for code in codes} <= SKILL_CODES
