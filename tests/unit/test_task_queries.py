"""Who may read what in the task service (services/tasks/queries.py): the scope of a list, the
roles a list shows, whose assignments and record a caller may see, and the nearby search's limits.
An id outside the caller's scope answers as a missing one does."""

from __future__ import annotations

import pytest

from services.common.auth import Principal, Role
from services.common.errors import InvalidArgument, NotFound, PermissionDenied
from services.common.settings import Bounds
from services.common.values import LatLng
from services.tasks.domain import MemberView
from services.tasks.queries import (
    check_member_id,
    check_member_scope,
    check_nearby,
    hidden,
    missing,
    needs_member_view,
    role_communities,
    scope_for,
)
from services.tasks.store import Scope

MEMBER_ID = "0b9e3f6a-3c55-4f59-9d0e-6f1f2a1d7c11"
OTHER_ID = "5d2c4e8b-7a61-4b1e-8c3f-2e9d0a4b6f22"

member = Principal(MEMBER_ID, Role.MEMBER)
staff = Principal("s", Role.COMMUNITY_STAFF, community_ids=frozenset({"c1", "c2"}))
street_admin = Principal("a", Role.STREET_ADMIN, street_ids=frozenset({"s1"}))
district_admin = Principal("d", Role.DISTRICT_ADMIN)
service = Principal("svc", Role.SERVICE)

reported = MemberView(MEMBER_ID, "c1", "s1", active=True, reported_in=True)
BOUNDS = Bounds()
INSIDE = LatLng((BOUNDS.min_lat + BOUNDS.max_lat) / 2, (BOUNDS.min_lng + BOUNDS.max_lng) / 2)


def test_a_member_lists_their_community_and_the_street_wide_tasks_of_their_street() -> None:
    assert scope_for(member, reported, "") == Scope(member_community="c1", member_street="s1")
    assert scope_for(member, reported, "c1") == Scope(member_community="c1", member_street="s1")


@pytest.mark.parametrize(
    "view",
    [
        None,
        MemberView(MEMBER_ID, "c1", "s1", active=True, reported_in=False),
        MemberView(MEMBER_ID, None, None, active=True, reported_in=True),
    ],
)
def test_a_member_without_a_community_yet_lists_nothing(view: MemberView | None) -> None:
    assert scope_for(member, view, "") is None


def test_a_member_naming_another_community_is_refused_as_outside_their_scope() -> None:
    with pytest.raises(PermissionDenied, match="outside your scope"):
        scope_for(member, reported, "c9")


def test_staff_list_their_communities_and_nothing_else() -> None:
    assert scope_for(staff, None, "") == Scope(community_ids=["c1", "c2"])
    assert scope_for(staff, None, "c2") == Scope(community_ids=["c1", "c2"])
    with pytest.raises(PermissionDenied):
        scope_for(staff, None, "c9")


def test_a_street_administrator_lists_their_streets_and_a_community_only_in_them() -> None:
    assert scope_for(street_admin, None, "") == Scope(street_ids=["s1"])
    assert scope_for(street_admin, None, "c1", "s1") == Scope(street_ids=["s1"])
    # A community in another street and one that does not exist answer the same.
    for street in ("s2", None):
        with pytest.raises(PermissionDenied, match="'c7' is outside your scope"):
            scope_for(street_admin, None, "c7", street)


@pytest.mark.parametrize("who", [district_admin, service])
def test_callers_who_see_everywhere_list_without_limit(who: Principal) -> None:
    assert scope_for(who, None, "c9") == Scope()


def test_roles_are_listed_for_the_named_community_or_the_callers_own() -> None:
    assert role_communities(Scope(), "c1") == ["c1"]
    assert role_communities(Scope(), "") is None
    assert role_communities(Scope(community_ids=["c1", "c2"]), "") == ["c1", "c2"]
    assert role_communities(Scope(member_community="c1", member_street="s1"), "") == ["c1"]


def test_a_street_administrator_names_the_community_whose_roles_they_list() -> None:
    with pytest.raises(InvalidArgument) as e:
        role_communities(Scope(street_ids=["s1"]), "")
    assert e.value.violations[0].field == "community_id"


def test_a_missing_id_is_not_found_only_for_callers_who_see_everywhere() -> None:
    assert isinstance(missing(district_admin, "task", "t"), NotFound)
    assert isinstance(missing(service, "role", "r"), NotFound)
    for who in (member, staff, street_admin):
        answer = missing(who, "role", "r")
        assert isinstance(answer, PermissionDenied)
        assert str(answer) == str(hidden("role"))


def test_a_member_sees_only_their_own_assignments_and_record() -> None:
    assert not needs_member_view(member)
    check_member_scope(member, MEMBER_ID, None)
    with pytest.raises(PermissionDenied, match="only their own"):
        check_member_scope(member, OTHER_ID, None)


def test_staff_see_the_members_of_their_communities_and_no_unknown_member() -> None:
    assert needs_member_view(staff) and needs_member_view(street_admin)
    check_member_scope(staff, MEMBER_ID, reported)
    check_member_scope(street_admin, MEMBER_ID, reported)
    elsewhere = MemberView(OTHER_ID, "c9", "s9", active=True, reported_in=True)
    # A member elsewhere and one the service does not know answer the same.
    for view in (elsewhere, None):
        for who in (staff, street_admin):
            with pytest.raises(PermissionDenied, match="this member is outside your scope"):
                check_member_scope(who, OTHER_ID, view)


@pytest.mark.parametrize("who", [district_admin, service])
def test_callers_who_see_everywhere_see_every_member(who: Principal) -> None:
    assert not needs_member_view(who)
    check_member_scope(who, OTHER_ID, None)


def test_a_member_id_that_is_not_one_is_refused_by_name() -> None:
    check_member_id(MEMBER_ID)
    with pytest.raises(InvalidArgument) as e:
        check_member_id("me")
    assert e.value.violations[0].field == "member_id"


def test_a_nearby_search_names_each_field_out_of_range() -> None:
    assert check_nearby(INSIDE, 0, 0, BOUNDS) == INSIDE
    with pytest.raises(InvalidArgument) as e:
        check_nearby(None, 20_001, 201, BOUNDS)
    assert [v.field for v in e.value.violations] == ["near", "radius_m", "limit"]
