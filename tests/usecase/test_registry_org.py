"""The organisation's use cases on the in-memory store: who may create which entry, reads and
lists, and the district file."""

from __future__ import annotations

import pytest

from services.common.auth import Principal, Role
from services.common.errors import InvalidArgument, NotFound, PermissionDenied
from services.registry.domain.org import BuildingGroup, Community, Grid, Street, Unit
from tests.support import ref
from tests.usecase.registry_support import ADMIN, HOME, world


async def test_a_district_administrator_creates_any_entry_once() -> None:
    w = await world()
    street = ref("s")
    stored, created_at = await w.registry.create_org(ADMIN, Street(street, "  新街道 "))
    assert stored == Street(street, "新街道") and created_at is not None
    again, _ = await w.registry.create_org(ADMIN, Street(street, "新街道"))
    assert again == stored
    assert [e.subject for e in w.store.outbox].count("linli.registry.street.created") == 3


async def test_street_administrators_create_communities_only_in_their_street() -> None:
    w = await world()
    mine, _ = await w.registry.create_org(
        w.street_admin, Community(ref("c"), "新社区", w.street, HOME)
    )
    assert isinstance(mine, Community) and mine.street_id == w.street
    with pytest.raises(PermissionDenied):
        await w.registry.create_org(
            w.street_admin, Community(ref("c"), "别处", w.other_street, HOME)
        )


async def test_staff_create_grids_and_building_groups_only_in_their_community() -> None:
    w = await world()
    grid, _ = await w.registry.create_org(w.staff, Grid(ref("g"), "新网格", w.community, HOME, 200))
    group, _ = await w.registry.create_org(w.staff, BuildingGroup(ref("b"), "楼院", grid.id, None))
    assert isinstance(group, BuildingGroup) and group.grid_id == grid.id
    with pytest.raises(PermissionDenied):
        await w.registry.create_org(w.staff, Grid(ref("g"), "别处", w.neighbour, HOME, 200))
    with pytest.raises(PermissionDenied):
        await w.registry.create_org(w.staff, BuildingGroup(ref("b"), "别处", w.far_grid, None))


async def test_only_district_administrators_create_streets_and_units() -> None:
    w = await world()
    for principal in (w.staff, w.street_admin):
        with pytest.raises(PermissionDenied):
            await w.registry.create_org(principal, Street(ref("s"), "街道"))
        with pytest.raises(PermissionDenied):
            await w.registry.create_org(
                principal, Unit(ref("u"), "单位", "government", w.community)
            )


async def test_an_unknown_parent_is_named_whoever_asks() -> None:
    w = await world()
    for principal in (ADMIN, w.staff, w.street_admin):
        with pytest.raises(InvalidArgument) as err:
            await w.registry.create_org(principal, Grid(ref("g"), "网格", ref("c"), HOME, 200))
        assert [v.field for v in err.value.violations] == ["grid.community_id"]


async def test_bad_fields_of_an_entry_are_named_with_its_kind() -> None:
    w = await world()
    with pytest.raises(InvalidArgument) as err:
        await w.registry.create_org(ADMIN, Grid("Bad Id", "", w.community, HOME, 1))
    assert {v.field for v in err.value.violations} == {"grid.id", "grid.name", "grid.radius_m"}


async def test_every_caller_reads_and_lists_the_organisation() -> None:
    w = await world()
    member = Principal(ref("m"), Role.MEMBER)
    entry, created_at = await w.registry.get_org(member, "community", w.far)
    assert entry.id == w.far and created_at is not None
    listed = await w.registry.list_org(member, "community", w.street, None, 10)
    assert [e.id for e, _ in listed] == sorted([w.community, w.neighbour])
    with pytest.raises(NotFound):
        await w.registry.get_org(member, "grid", ref("g"))
    with pytest.raises(InvalidArgument):
        await w.registry.get_org(member, "grid", "")
    with pytest.raises(InvalidArgument):
        await w.registry.list_org(member, "grid", "Not An Id", None, 10)


DISTRICT = """\
district:
  name: 测试区
streets:
  - id: {street}
    name: 测试街道
    communities:
      - id: {community}
        name: 测试社区
        station: {{lat: 36.98, lng: 117.17}}
        grids:
          - id: {grid}
            name: 第一网格
            center: {{lat: 36.98, lng: 117.17}}
            radius_m: 300
units:
  - id: {unit}
    name: 测试单位
    kind: government
    community: {community}
"""


async def test_administrators_import_a_district_file_and_a_repeat_changes_nothing() -> None:
    w = await world()
    text = DISTRICT.format(street=ref("s"), community=ref("c"), grid=ref("g"), unit=ref("u"))
    checked, _ = await w.registry.import_district(ADMIN, text, validate_only=True)
    assert checked["community"] == 1
    created, unchanged = await w.registry.import_district(ADMIN, text, validate_only=False)
    assert created == {"street": 1, "community": 1, "grid": 1, "building_group": 0, "unit": 1}
    assert unchanged == 0
    again, unchanged = await w.registry.import_district(ADMIN, text, validate_only=False)
    assert sum(again.values()) == 0 and unchanged == 4
    with pytest.raises(PermissionDenied):
        await w.registry.import_district(w.street_admin, text, validate_only=False)
