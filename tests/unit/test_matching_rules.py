"""The matching service's rules of runs and access, without I/O: which runs overlap, what a run
may be asked, and who may act on which scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.auth import Principal, Role
from services.common.errors import InvalidArgument, PermissionDenied
from services.matching.domain import access, runs
from services.matching.domain.runs import RunRecord
from services.matching.domain.scope import Scope
from services.matching.solver.model import Weights

T0 = datetime(2026, 12, 1, tzinfo=UTC)
COMMUNITIES = {"c1": "s1", "c2": "s1", "c9": "s2"}


def running(kind: str, scope_id: str, street: str, minutes: int = 0) -> RunRecord:
    return RunRecord(
        id=f"{kind}:{scope_id}",
        scope_kind=kind,
        scope_id=scope_id,
        street_id=street,
        state="running",
        dry_run=False,
        method="auto",
        requested_by="x",
        created_at=T0 + timedelta(minutes=minutes),
    )


@pytest.mark.parametrize(
    ("scope", "street", "other", "clash"),
    [
        (Scope("community", "c1"), "s1", running("community", "c1", "s1"), True),
        (Scope("community", "c1"), "s1", running("community", "c2", "s1"), False),
        (Scope("community", "c1"), "s1", running("street", "s1", "s1"), True),
        (Scope("street", "s1"), "s1", running("community", "c2", "s1"), True),
        (Scope("street", "s1"), "s1", running("community", "c9", "s2"), False),
        (Scope("street", "s1"), "s1", running("district", "", ""), True),
        (Scope("district"), "", running("community", "c9", "s2"), True),
    ],
)
def test_runs_overlap_when_they_could_plan_the_same_places(
    scope: Scope, street: str, other: RunRecord, clash: bool
) -> None:
    assert runs.overlaps(scope, street, other) is clash


def test_the_earliest_running_run_in_the_way_is_named() -> None:
    later = running("community", "c1", "s1", minutes=5)
    earlier = running("street", "s1", "s1", minutes=1)
    done = RunRecord(**{**earlier.__dict__, "id": "done", "state": "failed", "created_at": T0})
    assert runs.first_overlapping(Scope("community", "c1"), "s1", [later, done, earlier]) == earlier
    assert runs.first_overlapping(Scope("community", "c9"), "s2", [later, earlier]) is None


def test_every_parameter_out_of_range_is_named_and_zero_means_the_default() -> None:
    with pytest.raises(InvalidArgument) as bad:
        runs.run_params("auto", 121, 0.2, Weights(fill=-1), 20_001)
    assert {v.field for v in bad.value.violations} == {
        "time_limit_s",
        "gap_target",
        "max_distance_m",
        "weights.fill",
    }
    params = runs.run_params("flow", 0, 0, Weights(), 0)
    assert (params.method, params.time_limit_s, params.max_distance_m) == ("flow", 10.0, 3000.0)


def test_a_place_outside_ones_scope_and_a_missing_one_are_refused_alike() -> None:
    staff = Principal("s", Role.COMMUNITY_STAFF, frozenset({"c1"}))
    refusals = []
    for scope in (Scope("community", "c2"), Scope("community", "nowhere")):
        with pytest.raises(PermissionDenied) as denied:
            access.authorize(staff, scope, COMMUNITIES)
        refusals.append(denied.value.message.replace(scope.id, ""))
    assert refusals[0] == refusals[1]
    assert access.authorize(staff, Scope("community", "c1"), COMMUNITIES) == "s1"
    admin = Principal("a", Role.DISTRICT_ADMIN)
    with pytest.raises(InvalidArgument) as unknown:
        access.authorize(admin, Scope("street", "nowhere"), COMMUNITIES)
    assert unknown.value.violations[0].field == "street_id"
