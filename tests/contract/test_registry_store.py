"""The registry store's contract: one suite, run against the PostgreSQL store and the in-memory
store, so that use-case tests on memory say what the service does on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from linli.v1 import events_pb2
from services.common.auth import Principal, Role
from services.common.db import create_pool
from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.common.eventbus import Outbox
from services.common.migrations import apply
from services.common.settings import RegistrySettings
from services.common.subjects import (
    CERTIFICATE_EXPIRING,
    MEMBER_DEACTIVATED,
    MEMBER_ERASED,
    MEMBER_REGISTERED,
    MEMBER_REPORTED_IN,
    MEMBER_UPDATED,
    REGISTRY,
    REPORT_IN_ACCEPTED,
    REPORT_IN_REFUSED,
    SKILL_UNVERIFIED,
    SKILL_VERIFIED,
)
from services.common.values import LatLng, WeeklyWindow
from services.registry.app import MIGRATIONS
from services.registry.domain import erasure, qualification
from services.registry.domain import member as rules
from services.registry.domain.errors import PhoneChangeLimited
from services.registry.domain.member import (
    Changed,
    Member,
    MemberData,
    ReportInState,
    Verification,
)
from services.registry.domain.org import BuildingGroup, Community, Grid, Placement, Street, Unit
from services.registry.store import PostgresRegistryStore, RegisterRow, RegistryStore
from services.registry.store.memory import MemoryRegistryStore
from tests.conftest import Servers
from tests.support import phone, ref, request_id

ADMIN = Principal("contract-admin", Role.DISTRICT_ADMIN)
SERVICE = Principal("contract-app", Role.SERVICE)
HOME = LatLng(36.98, 117.17)


@dataclass
class Subject:
    """A store under test and a way to read the events it wrote since a mark."""

    store: RegistryStore
    mark: Callable[[], Awaitable[int]]
    subjects_since: Callable[[int], Awaitable[list[str]]]


@pytest.fixture(scope="session")
async def contract_pool(servers: Servers) -> AsyncIterator[asyncpg.Pool]:
    schema = f"registry_contract_{uuid.uuid4().hex[:8]}"
    pool = await create_pool(RegistrySettings(), servers.database_url, schema)
    async with pool.acquire() as conn:
        await apply(conn, schema, MIGRATIONS)
    yield pool
    await pool.close()


@pytest.fixture(params=["postgres", "memory"])
async def subject(request: pytest.FixtureRequest, contract_pool: asyncpg.Pool) -> Subject:
    if request.param == "memory":
        memory = MemoryRegistryStore()

        async def memory_mark() -> int:
            return len(memory.outbox)

        async def memory_since(mark: int) -> list[str]:
            return [e.subject for e in memory.outbox[mark:]]

        return Subject(memory, memory_mark, memory_since)
    pool = contract_pool

    async def pg_mark() -> int:
        return int(await pool.fetchval("SELECT coalesce(max(seq), 0) FROM outbox"))

    async def pg_since(mark: int) -> list[str]:
        rows = await pool.fetch("SELECT envelope FROM outbox WHERE seq > $1 ORDER BY seq", mark)
        return [events_pb2.EventEnvelope.FromString(r["envelope"]).subject for r in rows]

    return Subject(PostgresRegistryStore(pool, Outbox(REGISTRY)), pg_mark, pg_since)


@dataclass(frozen=True)
class Org:
    street: str
    community: str
    grid: str
    group: str
    unit: str
    other_community: str
    other_grid: str


async def make_org(store: RegistryStore) -> Org:
    o = Org(ref("s"), ref("c"), ref("g"), ref("b"), ref("u"), ref("c"), ref("g"))
    await store.write_org(
        [
            Street(o.street, "街道"),
            Community(o.community, "社区", o.street, HOME),
            Community(o.other_community, "另一社区", o.street, HOME),
            Grid(o.grid, "网格", o.community, HOME, 300),
            Grid(o.other_grid, "另一网格", o.other_community, HOME, 300),
            BuildingGroup(o.group, "楼院", o.grid, None),
            Unit(o.unit, "单位", "enterprise", o.community),
        ],
        ADMIN,
    )
    return o


def data(org: Org | None = None, **changes: object) -> MemberData:
    d = MemberData(
        name="测试·李娜",
        phone=phone(),
        home=HOME,
        unit_id=None,
        skills=(("tutoring", 2),),
        availability=(WeeklyWindow(6, 480, 720),),
        hours_per_month=10,
        community_id=org.community if org else None,
        grid_id=org.grid if org else None,
    )
    return replace(d, **changes)  # type: ignore[arg-type]


async def register(store: RegistryStore, d: MemberData, actor: Principal = ADMIN) -> Member:
    (result,) = await store.register([RegisterRow(0, request_id(), d)], actor, accepted=True)
    assert result.error is None and result.member is not None
    return result.member


# -- organisation ----------------------------------------------------------------------------


async def test_a_write_creates_new_entries_parents_first_and_announces_each(
    subject: Subject,
) -> None:
    mark = await subject.mark()
    street, community = ref("s"), ref("c")
    created, unchanged, stored = await subject.store.write_org(
        [Street(street, "街道"), Community(community, "社区", street, HOME)], ADMIN
    )
    assert created["street"] == 1 and created["community"] == 1 and unchanged == 0
    assert [e.id for e in stored] == [street, community]
    assert await subject.subjects_since(mark) == [
        "linli.registry.street.created",
        "linli.registry.community.created",
    ]
    assert await subject.store.street_of(community) == street
    assert await subject.store.org_exists("community", community)
    assert (await subject.store.get_org("community", community)).name == "社区"


async def test_an_entry_written_again_as_it_is_is_unchanged_and_announced_once(
    subject: Subject,
) -> None:
    street = ref("s")
    await subject.store.write_org([Street(street, "街道")], ADMIN)
    mark = await subject.mark()
    created, unchanged, _ = await subject.store.write_org([Street(street, "街道")], ADMIN)
    assert created["street"] == 0 and unchanged == 1
    assert await subject.subjects_since(mark) == []


async def test_other_content_or_a_missing_parent_fails_the_whole_write(subject: Subject) -> None:
    street, fresh = ref("s"), ref("s")
    await subject.store.write_org([Street(street, "街道")], ADMIN)
    with pytest.raises(InvalidArgument) as err:
        await subject.store.write_org(
            [
                Street(fresh, "新街道"),
                Street(street, "改名"),
                Grid(ref("g"), "网格", ref("c"), HOME, 300),
            ],
            ADMIN,
        )
    assert {v.field for v in err.value.violations} == {"street.id", "grid.community_id"}
    assert not await subject.store.org_exists("street", fresh)


async def test_validate_only_counts_what_would_be_created_and_writes_nothing(
    subject: Subject,
) -> None:
    street = ref("s")
    mark = await subject.mark()
    created, _, _ = await subject.store.write_org(
        [Street(street, "街道")], ADMIN, validate_only=True
    )
    assert created["street"] == 1
    assert not await subject.store.org_exists("street", street)
    assert await subject.subjects_since(mark) == []


async def test_entries_are_listed_by_id_under_their_parent_page_after_page(
    subject: Subject,
) -> None:
    org = await make_org(subject.store)
    listed = await subject.store.list_org("community", org.street, None, 10)
    assert [e.id for e, _ in listed] == sorted([org.community, org.other_community])
    first = await subject.store.list_org("community", org.street, None, 1)
    rest = await subject.store.list_org("community", org.street, first[0][0].id, 10)
    assert [e.id for e, _ in first + rest] == [e.id for e, _ in listed]
    created = await subject.store.org_created_at("community", [org.community, ref("c")])
    assert set(created) == {org.community}


async def test_a_missing_entry_is_not_found(subject: Subject) -> None:
    with pytest.raises(NotFound):
        await subject.store.get_org("grid", ref("g"))
    assert await subject.store.street_of(ref("c")) is None
    assert await subject.store.street_of_grid(ref("g")) is None


async def test_places_are_checked_for_existence_and_for_fitting_together(
    subject: Subject,
) -> None:
    org = await make_org(subject.store)
    assert await subject.store.street_of_grid(org.grid) == (org.community, org.street)
    await subject.store.check_places(Placement(org.community, org.grid, org.group), prefix="")
    with pytest.raises(InvalidArgument) as err:
        await subject.store.check_places(Placement(org.community, org.other_grid, None), "")
    assert [v.field for v in err.value.violations] == ["grid_id"]
    with pytest.raises(InvalidArgument) as err:
        await subject.store.check_places(Placement(ref("c"), ref("g"), ref("b"), ref("u")), "x.")
    assert {v.field for v in err.value.violations} == {
        "x.community_id",
        "x.grid_id",
        "x.building_group_id",
        "x.unit_id",
    }


# -- members ---------------------------------------------------------------------------------


async def test_a_registration_creates_the_member_and_announces_it(subject: Subject) -> None:
    org = await make_org(subject.store)
    mark = await subject.mark()
    member = await register(subject.store, data(org))
    assert member.active and member.street_id == org.street
    assert member.reported_in_at is not None
    assert await subject.subjects_since(mark) == [MEMBER_REGISTERED]
    assert await subject.store.get_member(member.id) == member


async def test_a_repeated_request_answers_with_the_member_it_registered(subject: Subject) -> None:
    d, rid = data(), request_id()
    (first,) = await subject.store.register([RegisterRow(0, rid, d)], ADMIN)
    (again,) = await subject.store.register([RegisterRow(0, rid, d)], ADMIN)
    assert first.created and not again.created
    assert again.member is not None and first.member is not None
    assert again.member.id == first.member.id
    (other,) = await subject.store.register([RegisterRow(0, rid, data())], ADMIN)
    assert isinstance(other.error, FailedPrecondition)


async def test_a_taken_phone_or_an_unknown_place_fails_only_its_row(subject: Subject) -> None:
    taken = (await register(subject.store, data())).data.phone
    rows = [
        RegisterRow(0, request_id(), data(phone=taken)),
        RegisterRow(1, request_id(), data(community_id=ref("c"), grid_id=ref("g"))),
        RegisterRow(2, request_id(), data()),
    ]
    results = await subject.store.register(rows, ADMIN)
    assert isinstance(results[0].error, AlreadyExists)
    assert isinstance(results[1].error, InvalidArgument)
    assert results[2].created


async def test_taken_phones_beyond_the_allowance_fail_the_whole_batch(subject: Subject) -> None:
    staff = Principal(ref("staff"), Role.COMMUNITY_STAFF)
    taken = [(await register(subject.store, data())).data.phone for _ in range(2)]
    free = data()
    rows = [RegisterRow(i, request_id(), data(phone=p)) for i, p in enumerate(taken)]
    with pytest.raises(PhoneChangeLimited):
        await subject.store.register(
            [*rows, RegisterRow(2, request_id(), free)], staff, conflict_allowance=1
        )
    assert await subject.store.count_phone_attempts("conflict", caller=staff.subject) == 2
    (result,) = await subject.store.register([RegisterRow(0, request_id(), free)], staff)
    assert result.created


async def test_a_missing_or_malformed_member_id_is_not_found(subject: Subject) -> None:
    for member_id in (str(uuid.uuid4()), "not-a-uuid"):
        with pytest.raises(NotFound):
            await subject.store.get_member(member_id)


async def test_members_are_listed_by_id_with_every_filter(subject: Subject) -> None:
    org = await make_org(subject.store)
    here = [await register(subject.store, data(org)) for _ in range(3)]
    there = await register(
        subject.store, data(community_id=org.other_community, grid_id=org.other_grid)
    )

    async def ids(**filters: object) -> list[str]:
        query: dict[str, object] = {
            "community_id": "",
            "grid_id": "",
            "skill": "",
            "active": None,
            "street_ids": None,
            "after": None,
            "limit": 10,
        }
        query.update(filters)
        return [m.id for m in await subject.store.list_members(**query)]  # type: ignore[arg-type]

    assert await ids(community_id=org.community) == sorted(m.id for m in here)
    assert await ids(street_ids=[org.street]) == sorted(m.id for m in [*here, there])
    assert await ids(community_ids=[org.other_community]) == [there.id]
    assert await ids(member_id=there.id, community_id=org.community) == []
    first = await ids(community_id=org.community, limit=1)
    assert await ids(community_id=org.community, after=first[0]) == sorted(m.id for m in here)[1:]
    assert await ids(street_ids=[org.street], skill="first_aid") == []
    assert await ids(street_ids=[org.street], active=False) == []


async def test_an_update_is_written_with_its_event_and_stamps(subject: Subject) -> None:
    member = await register(subject.store, data())
    mark = await subject.mark()
    updated = await subject.store.update_member(
        member.id,
        lambda m: rules.update(m, replace(m.data, hours_per_month=30), ["hours_per_month"], BOUNDS),
        ADMIN,
    )
    assert updated.data.hours_per_month == 30
    assert updated.updated_at >= member.updated_at
    assert await subject.store.get_member(member.id) == updated
    assert await subject.subjects_since(mark) == [MEMBER_UPDATED]


async def test_an_update_that_changes_nothing_writes_nothing(subject: Subject) -> None:
    member = await register(subject.store, data())
    mark = await subject.mark()
    same = await subject.store.update_member(member.id, lambda m: None, ADMIN)
    assert same == member
    assert await subject.subjects_since(mark) == []


async def test_a_member_the_caller_may_not_see_is_not_found_and_not_changed(
    subject: Subject,
) -> None:
    member = await register(subject.store, data())
    calls: list[Member] = []

    def update(m: Member) -> Changed | None:
        calls.append(m)
        return rules.deactivate(m, "")

    with pytest.raises(NotFound):
        await subject.store.update_member(member.id, update, ADMIN, visible=lambda m: False)
    assert calls == [] and (await subject.store.get_member(member.id)).active


async def test_an_update_to_a_taken_phone_or_unknown_place_is_refused(subject: Subject) -> None:
    member = await register(subject.store, data())
    taken = (await register(subject.store, data())).data.phone
    with pytest.raises(AlreadyExists):
        await subject.store.update_member(member.id, lambda m: rules.change_phone(m, taken), ADMIN)
    with pytest.raises(InvalidArgument):
        await subject.store.update_member(
            member.id, lambda m: rules.report_in(m, Placement(ref("c"), ref("g"), None)), ADMIN
        )
    assert await subject.store.get_member(member.id) == member


async def test_reporting_in_stamps_the_time_and_deactivation_keeps_the_reason(
    subject: Subject,
) -> None:
    org = await make_org(subject.store)
    member = await register(subject.store, data())
    assert member.reported_in_at is None
    mark = await subject.mark()
    moved = await subject.store.update_member(
        member.id,
        lambda m: rules.report_in(m, Placement(org.community, org.grid, org.group)),
        ADMIN,
    )
    assert moved.reported_in_at is not None and moved.street_id == org.street
    assert moved.data.building_group_id == org.group
    gone = await subject.store.update_member(
        member.id, lambda m: rules.deactivate(m, "搬家"), ADMIN
    )
    assert not gone.active and gone.deactivation_reason == "搬家"
    assert await subject.subjects_since(mark) == [MEMBER_REPORTED_IN, MEMBER_DEACTIVATED]


# -- phone changes ---------------------------------------------------------------------------


async def test_a_pending_phone_change_is_taken_once_with_its_code(subject: Subject) -> None:
    member = await register(subject.store, data())
    new = phone()
    assert await subject.store.request_phone_change(member.id, new, "right", 600)
    assert await subject.store.take_phone_change(member.id, "wrong", 5) is None
    assert await subject.store.take_phone_change(member.id, "right", 5) == new
    assert await subject.store.take_phone_change(member.id, "right", 5) is None


async def test_wrong_codes_drop_the_change_and_a_taken_number_never_confirms(
    subject: Subject,
) -> None:
    member = await register(subject.store, data())
    assert await subject.store.request_phone_change(member.id, phone(), "right", 600)
    for _ in range(2):
        assert await subject.store.take_phone_change(member.id, "wrong", 2) is None
    assert await subject.store.take_phone_change(member.id, "right", 2) is None
    taken = (await register(subject.store, data())).data.phone
    assert not await subject.store.request_phone_change(member.id, taken, "right", 600)
    assert await subject.store.take_phone_change(member.id, "right", 5) is None


async def test_phone_changes_are_limited_per_member_and_per_caller(subject: Subject) -> None:
    member = await register(subject.store, data())
    caller = ref("caller")
    await subject.store.note_phone_change(caller, member.id, 2, None)
    await subject.store.note_phone_change(ref("caller"), member.id, 2, None)
    with pytest.raises(PhoneChangeLimited):
        await subject.store.note_phone_change(caller, member.id, 2, None)
    other = await register(subject.store, data())
    with pytest.raises(PhoneChangeLimited):
        await subject.store.note_phone_change(caller, other.id, None, 1)
    assert await subject.store.count_phone_attempts("change", member_id=member.id) == 2


BOUNDS = RegistrySettings().bounds


# -- erasure -------------------------------------------------------------------------------


async def test_an_erased_member_is_anonymised_announced_and_not_found(subject: Subject) -> None:
    store = subject.store
    org = await make_org(store)
    member = await register(store, data(org, building_group_id=org.group, unit_id=org.unit))
    await store.note_phone_change(ADMIN.subject, member.id, None, None)
    await store.request_phone_change(member.id, phone(), "hash", 600)
    mark = await subject.mark()
    await store.erase_member(
        member.id, erasure.anonymised, "本人申请", ADMIN, visible=lambda m: True
    )
    assert await subject.subjects_since(mark) == [MEMBER_ERASED]
    with pytest.raises(NotFound):
        await store.get_member(member.id)
    listed = await store.list_members(
        community_id=org.community,
        grid_id="",
        skill="",
        active=None,
        street_ids=None,
        after=None,
        limit=100,
    )
    assert member.id not in {m.id for m in listed}
    history = await store.phone_history(member.id)
    assert history.pending_phone is None and history.changes_asked == ()
    with pytest.raises(NotFound):
        await store.erase_member(member.id, erasure.anonymised, "", ADMIN, visible=lambda m: True)
    with pytest.raises(NotFound):
        await store.update_member(member.id, lambda m: rules.deactivate(m, ""), ADMIN)


async def test_an_erased_registrations_request_id_is_refused(subject: Subject) -> None:
    store = subject.store
    org = await make_org(store)
    rid, d = request_id(), data(org)
    (first,) = await store.register([RegisterRow(0, rid, d)], ADMIN)
    assert first.member is not None
    await store.erase_member(first.member.id, erasure.anonymised, "", ADMIN, visible=lambda m: True)
    (again,) = await store.register([RegisterRow(0, rid, d)], ADMIN)
    assert isinstance(again.error, FailedPrecondition)


# -- report-ins and certificates -------------------------------------------------------------


async def test_a_registration_is_accepted_only_when_staff_made_it(subject: Subject) -> None:
    org = await make_org(subject.store)
    by_staff = await register(subject.store, data(org))
    assert by_staff.report_in is ReportInState.ACCEPTED
    assert by_staff.report_in_decided_at is not None
    (result,) = await subject.store.register(
        [RegisterRow(0, request_id(), data(org))], SERVICE, accepted=False
    )
    assert result.member is not None and result.member.report_in is ReportInState.PENDING
    assert result.member.report_in_decided_at is None
    assert await subject.store.get_member(result.member.id) == result.member
    nowhere = await register(subject.store, data())
    assert nowhere.report_in is ReportInState.NONE


async def test_a_decided_report_in_is_stamped_announced_and_listed_by_state(
    subject: Subject,
) -> None:
    org = await make_org(subject.store)
    member = await register(subject.store, data())
    waiting = await subject.store.update_member(
        member.id, lambda m: rules.report_in(m, Placement(org.community, org.grid, None)), ADMIN
    )
    assert waiting.report_in is ReportInState.PENDING

    async def pending() -> list[str]:
        found = await subject.store.list_members(
            community_id=org.community,
            grid_id="",
            skill="",
            active=None,
            street_ids=None,
            after=None,
            limit=10,
            report_in=ReportInState.PENDING,
        )
        return [m.id for m in found]

    assert await pending() == [member.id]
    mark = await subject.mark()
    refused = await subject.store.update_member(
        member.id, lambda m: qualification.refuse_report_in(m, "地址不符"), ADMIN
    )
    assert refused.report_in is ReportInState.REFUSED and refused.report_in_reason == "地址不符"
    assert refused.report_in_decided_at is not None
    assert await pending() == []
    again = await subject.store.update_member(
        member.id, lambda m: rules.report_in(m, Placement(org.community, org.grid, None)), ADMIN
    )
    assert again.report_in_decided_at is None and again.report_in_reason == ""
    accepted = await subject.store.update_member(member.id, qualification.accept_report_in, ADMIN)
    assert accepted.report_in is ReportInState.ACCEPTED
    assert await subject.store.get_member(member.id) == accepted
    assert await subject.subjects_since(mark) == [
        REPORT_IN_REFUSED,
        MEMBER_REPORTED_IN,
        REPORT_IN_ACCEPTED,
    ]


async def test_certificates_are_kept_announced_and_found_when_due(subject: Subject) -> None:
    member = await register(subject.store, data(skills=(("medical", 3), ("tutoring", 1))))
    now = datetime.now(UTC).replace(microsecond=0)
    expires = now + timedelta(days=40)
    mark = await subject.mark()
    verified = await subject.store.update_member(
        member.id, lambda m: qualification.verify_skill(m, "medical", "110101", expires), ADMIN
    )
    assert verified.verifications == (Verification("medical", "110101", expires),)
    assert await subject.store.get_member(member.id) == verified
    assert await subject.subjects_since(mark) == [SKILL_VERIFIED, MEMBER_UPDATED]
    month = timedelta(days=30)
    assert member.id not in await subject.store.certificates_due(now, month, 1000)
    later = now + timedelta(days=15)
    assert member.id in await subject.store.certificates_due(later, month, 1000)
    mark = await subject.mark()
    reminded = await subject.store.update_member(
        member.id, lambda m: qualification.expire(m, later, month), ADMIN
    )
    assert reminded.verifications[0].reminded
    assert member.id not in await subject.store.certificates_due(later, month, 1000)
    assert member.id in await subject.store.certificates_due(expires, month, 1000)
    ended = await subject.store.update_member(
        member.id, lambda m: qualification.expire(m, expires, month), ADMIN
    )
    assert ended.verifications == ()
    assert await subject.subjects_since(mark) == [
        CERTIFICATE_EXPIRING,
        SKILL_UNVERIFIED,
        MEMBER_UPDATED,
    ]
