"""Who may run matching and see runs, on the in-memory store: scopes, runs outside one's scope
refused as missing ones are, listings of one's own runs page by page, and what staff see of
members outside their scope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services.common import paging
from services.common.auth import Principal
from services.common.errors import InvalidArgument, NotFound, PermissionDenied
from services.matching.domain.privacy import DISTANCE_BAND_M
from services.matching.domain.scope import Scope
from services.matching.solver.model import Weights
from tests.usecase.matching_support import (
    ADMIN,
    District,
    district,
    member_principal,
    ref,
    staff,
    street_admin,
)

DISTRICT = Scope("district")


@pytest.fixture(autouse=True)
def signing_key() -> Iterator[None]:
    with paging.signing_key(b"usecase tests"):
        yield


async def two_streets() -> District:
    d = district()
    for community, street in (("c1", "s1"), ("c2", "s1"), ("c9", "s2")):
        await d.community(community, street)
    return d


async def run(d: District, who: Principal, scope: Scope, dry_run: bool = True) -> Any:
    return await d.matching.run(
        who,
        scope,
        dry_run=dry_run,
        method="auto",
        time_limit_s=5,
        gap_target=0,
        weights=Weights(),
        max_distance_m=0,
    )


async def test_each_caller_runs_matching_only_in_their_own_scope() -> None:
    d = await two_streets()
    for who, scope in (
        (staff("c1"), Scope("community", "c2")),
        (staff("c1"), Scope("street", "s1")),
        (street_admin("s1"), Scope("district")),
        (street_admin("s1"), Scope("community", "c9")),
        (member_principal(ref()), Scope("community", "c1")),
        # A place that does not exist is refused as someone else's is.
        (staff("c1"), Scope("community", "nowhere")),
    ):
        with pytest.raises(PermissionDenied):
            await run(d, who, scope)
    assert (await run(d, street_admin("s1"), Scope("community", "c2"))).state == "succeeded"
    with pytest.raises(InvalidArgument) as unknown:
        await run(d, ADMIN, Scope("community", "nowhere"))
    assert [v.field for v in unknown.value.violations] == ["community_id"]
    with pytest.raises(InvalidArgument) as bad:
        await d.matching.run(
            ADMIN,
            Scope("district"),
            dry_run=True,
            method="auto",
            time_limit_s=-1,
            gap_target=0.5,
            weights=Weights(distance=-1),
            max_distance_m=0,
        )
    assert {v.field for v in bad.value.violations} == {
        "time_limit_s",
        "gap_target",
        "weights.distance",
    }


async def test_a_run_outside_ones_scope_is_refused_as_a_missing_one_is() -> None:
    d = await two_streets()
    theirs = await run(d, staff("c2"), Scope("community", "c2"))
    for run_id in (theirs.id, ref()):
        for ask in (d.matching.get_run, d.matching.run_assignments, d.matching.unfilled_places):
            args = (run_id,) if ask == d.matching.get_run else (run_id, 0, "")
            with pytest.raises(PermissionDenied, match="outside your scope"):
                await ask(staff("c1"), *args)  # type: ignore[operator]
    assert (await d.matching.get_run(street_admin("s1"), theirs.id)).id == theirs.id
    with pytest.raises(NotFound):
        await d.matching.get_run(ADMIN, ref())


async def test_without_a_filter_each_caller_lists_the_runs_of_their_own_scope() -> None:
    d = await two_streets()
    c1 = await run(d, staff("c1"), Scope("community", "c1"))
    c2 = await run(d, staff("c2"), Scope("community", "c2"))
    s1 = await run(d, street_admin("s1"), Scope("street", "s1"))
    c9 = await run(d, staff("c9"), Scope("community", "c9"))

    async def listed(who: Principal, scope: Scope = DISTRICT) -> list[str]:
        runs, _ = await d.matching.list_runs(who, scope, 0, "")
        return [r.id for r in runs]

    assert await listed(staff("c1")) == [c1.id]
    assert await listed(street_admin("s1")) == [s1.id, c2.id, c1.id]
    assert await listed(ADMIN) == [c9.id, s1.id, c2.id, c1.id]
    assert await listed(street_admin("s1"), Scope("community", "c1")) == [c1.id]
    with pytest.raises(PermissionDenied):
        await listed(member_principal(ref()))
    with pytest.raises(PermissionDenied):
        await listed(staff("c1"), Scope("community", "c2"))

    # Page by page, each token valid only for the listing it came from.
    seen, token = [], ""
    while True:
        page, token = await d.matching.list_runs(ADMIN, Scope("district"), 1, token)
        seen += [r.id for r in page]
        if not token:
            break
    assert seen == [c9.id, s1.id, c2.id, c1.id]
    _, token = await d.matching.list_runs(ADMIN, Scope("district"), 1, "")
    with pytest.raises(InvalidArgument) as other:
        await d.matching.list_runs(ADMIN, Scope("street", "s1"), 1, token)
    assert other.value.violations[0].field == "page_token"


async def test_staff_see_another_communitys_member_on_a_street_wide_place_only_by_band() -> None:
    d = await two_streets()
    outsider = await d.member("c2", lat=36.9812, lng=117.1713)
    await d.task("c1", "s1", street_wide=True)
    done = await run(d, ADMIN, Scope("community", "c1"), dry_run=False)
    assert done.figures["outside_members"] == 1 and done.figures["objective"] > 0

    (mine,), _ = await d.matching.run_assignments(staff("c1"), done.id, 0, "")
    (exact,), _ = await d.matching.run_assignments(ADMIN, done.id, 0, "")
    assert mine.member_id == exact.member_id == outsider
    assert mine.distance_m % DISTANCE_BAND_M == 0 and exact.distance_m % DISTANCE_BAND_M != 0
    assert mine.explanation.startswith("within") and "skill fit" not in mine.explanation
    assert "skill fit" in exact.explanation
    shown = await d.matching.get_run(staff("c1"), done.id)
    assert shown.figures["objective"] == 0.0 and shown.figures["hours_stdev"] == 0.0
    assert (await d.matching.get_run(street_admin("s1"), done.id)).figures["objective"] > 0
