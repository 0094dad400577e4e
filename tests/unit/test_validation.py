"""The checks every request passes at the door (services/common/validation.py), the decoder and
request ids of the interceptor (services/common/interceptors/), and one-line logs."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from hypothesis import given
from hypothesis import strategies as st

from linli.v1 import common_pb2, matching_pb2, registry_pb2, tasks_pb2
from services.common import validation
from services.common.errors import FieldViolation, InvalidArgument
from services.common.interceptors import (
    Undecodable,
    admit,
    admit_each,
    admit_stream,
    request_id_from,
    tolerant,
)
from services.common.logs import Format, formatter


def ts(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def fields(message: object) -> list[str]:
    return [v.field for v in validation.check(message)]  # type: ignore[arg-type]


def a_wish(**changes: object) -> tasks_pb2.PostWishRequest:
    wish = tasks_pb2.Wish(
        community_id="binhu",
        title="买菜",
        description="每周二\n上午\t九点",
        beneficiary_group=common_pb2.BENEFICIARY_GROUP_ELDERLY,
        location=common_pb2.LatLng(latitude=36.98, longitude=117.17),
        skills=[tasks_pb2.RequiredSkill(skill="errands", min_level=1)],
        headcount=1,
        window=tasks_pb2.TimeWindow(
            start=ts(datetime(2026, 12, 1, 9, tzinfo=UTC)),
            end=ts(datetime(2026, 12, 1, 11, tzinfo=UTC)),
        ),
        effort_hours=2.0,
    )
    request = tasks_pb2.PostWishRequest(request_id="r-1", wish=wish)
    for path, value in changes.items():
        *parents, name = path.split("__")
        target: object = request
        for parent in parents:
            target = getattr(target, parent)
        setattr(target, name, value)
    return request


def test_a_well_formed_request_passes() -> None:
    assert validation.check(a_wish()) == []
    validation.validate(a_wish())


@pytest.mark.parametrize("bad", ["\x00", "a\x00b", "\x07", "\x1b[31m", "\x7f", "x\x0bx"])
def test_a_control_character_in_any_text_is_refused_naming_its_path(bad: str) -> None:
    assert fields(a_wish(wish__title=bad)) == ["wish.title"]
    assert fields(a_wish(request_id=bad)) == ["request_id"]
    assert fields(tasks_pb2.ListTasksRequest(page_token=bad)) == ["page_token"]


def test_tabs_and_line_breaks_are_text() -> None:
    assert fields(a_wish(wish__description="一\t二\r\n三")) == []


def test_a_path_names_the_position_in_a_repeated_field() -> None:
    request = a_wish()
    request.wish.skills.add(skill="ok")
    request.wish.skills.add(skill="bad\x00")
    assert fields(request) == ["wish.skills[2].skill"]


def test_a_path_names_the_key_of_a_map() -> None:
    message = struct_pb2.Struct()
    message.fields["note"].string_value = "a\x00"
    assert fields(message) == ["fields['note'].string_value"]


@given(st.text(max_size=200))
def test_text_is_refused_exactly_when_it_holds_a_forbidden_character(text: str) -> None:
    forbidden = any(
        (ord(c) < 0x20 and c not in "\t\n\r") or c == "\x7f" or 0xD800 <= ord(c) <= 0xDFFF
        for c in text
    )
    assert bool(validation.check(tasks_pb2.GetTaskRequest(id=text))) == forbidden


def test_text_longer_than_the_generic_bound_is_refused() -> None:
    assert fields(tasks_pb2.GetTaskRequest(id="x" * validation.MAX_TEXT)) == []
    [violation] = validation.check(tasks_pb2.GetTaskRequest(id="x" * (validation.MAX_TEXT + 1)))
    assert violation == FieldViolation("id", "must be at most 4096 characters (got 4097)")


def test_a_file_field_has_its_own_larger_bound() -> None:
    content = "streets: []\n" + "#" * 100_000
    assert fields(registry_pb2.ImportDistrictRequest(content=content)) == []
    too_big = "#" * (validation.LARGE_FIELDS["linli.v1.ImportDistrictRequest.content"] + 1)
    assert fields(registry_pb2.ImportDistrictRequest(content=too_big)) == ["content"]


@pytest.mark.parametrize(
    "seconds",
    [
        -62_135_596_800,  # 0001-01-01
        -1,
        0,
        946_684_799,  # a second before 2000
        7_258_118_400,  # 2200-01-01
        253_402_300_799,  # 9999-12-31
        2**62,
    ],
)
def test_a_timestamp_outside_the_supported_years_is_refused_naming_it(seconds: int) -> None:
    request = tasks_pb2.ListTasksRequest(start_after=timestamp_pb2.Timestamp(seconds=seconds))
    [violation] = validation.check(request)
    assert violation == FieldViolation(
        "start_after", "must lie between 2000-01-01 and 2200-01-01 (UTC)"
    )


def test_the_supported_years_include_their_first_and_last_second() -> None:
    first = timestamp_pb2.Timestamp(seconds=946_684_800)
    last = timestamp_pb2.Timestamp(seconds=7_258_118_399, nanos=999_999_999)
    assert fields(tasks_pb2.ListTasksRequest(start_after=first, start_before=last)) == []


@pytest.mark.parametrize("nanos", [-1, 1_000_000_000])
def test_a_timestamp_with_impossible_nanos_is_refused(nanos: int) -> None:
    request = a_wish()
    request.wish.window.end.nanos = nanos
    assert fields(request) == ["wish.window.end"]


@pytest.mark.parametrize(
    ("date", "ok"),
    [
        (common_pb2.Date(year=2026, month=2, day=28), True),
        (common_pb2.Date(year=2028, month=2, day=29), True),
        (common_pb2.Date(year=2026, month=2, day=29), False),
        (common_pb2.Date(year=2026, month=13, day=1), False),
        (common_pb2.Date(year=9999, month=12, day=31), False),
        (common_pb2.Date(year=0, month=0, day=0), False),
        (common_pb2.Date(year=-5, month=1, day=1), False),
    ],
)
def test_a_date_must_be_a_calendar_date_in_the_supported_years(
    date: common_pb2.Date, ok: bool
) -> None:
    request = tasks_pb2.CreateRoleRequest(request_id="r")
    request.role.weekly.first_date.CopyFrom(date)
    assert fields(request) == ([] if ok else ["role.weekly.first_date"])


@pytest.mark.parametrize("number", [-1, 99, 2**31 - 1])
def test_an_enum_number_the_schema_does_not_define_is_refused_naming_the_field(
    number: int,
) -> None:
    [violation] = validation.check(a_wish(wish__beneficiary_group=number))
    assert violation == FieldViolation(
        "wish.beneficiary_group", "is not a known BeneficiaryGroup value"
    )


def test_an_unknown_number_in_a_repeated_enum_is_named_by_position() -> None:
    request = tasks_pb2.ListTasksRequest(statuses=[1, 77])
    assert fields(request) == ["statuses[1]"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_number_that_is_not_finite_is_refused_naming_the_field(value: float) -> None:
    assert fields(matching_pb2.RunMatchingRequest(time_limit_s=value)) == ["time_limit_s"]
    weights = matching_pb2.MatchWeights(distance=value)
    assert fields(matching_pb2.RunMatchingRequest(weights=weights)) == ["weights.distance"]


def test_every_violation_is_named_up_to_a_bound() -> None:
    request = tasks_pb2.ListTasksRequest(statuses=[99] * 100, page_token="\x00")
    violations = validation.check(request)
    assert len(violations) == validation.MAX_VIOLATIONS
    with pytest.raises(InvalidArgument) as caught:
        validation.validate(request)
    assert caught.value.violations == violations


def test_a_repeated_field_with_more_entries_than_any_request_needs_is_refused_whole() -> None:
    bound = validation.MAX_REPEATED
    assert not validation.check(tasks_pb2.ListTasksRequest(statuses=[1] * bound))
    huge = tasks_pb2.ListTasksRequest(statuses=[99] * (bound + 1))
    assert [(v.field, v.description) for v in validation.check(huge)] == [
        ("statuses", f"at most {bound} entries (got {bound + 1})")
    ]
    request = a_wish()
    request.wish.skills.extend([tasks_pb2.RequiredSkill(skill="\x00")] * 200_000)
    assert [v.field for v in validation.check(request)] == ["wish.skills"]
    message = struct_pb2.Struct()
    for i in range(bound + 1):
        message.fields[f"k{i}"].string_value = "\x00"
    assert [v.field for v in validation.check(message)] == ["fields"]


def test_a_prefix_is_put_before_every_path() -> None:
    assert [v.field for v in validation.check(a_wish(request_id="\x00"), "requests[3].")] == [
        "requests[3].request_id"
    ]


# -- the decoder and the door of the interceptor ---------------------------------------------------


def test_a_body_that_does_not_decode_becomes_undecodable_naming_its_type() -> None:
    decode = tolerant(tasks_pb2.GetTaskRequest.FromString)
    assert decode is not None
    assert decode(tasks_pb2.GetTaskRequest(id="t").SerializeToString()).id == "t"
    assert decode(b"\xff\xff\xff") == Undecodable("GetTaskRequest")
    assert decode(b"\x0a\x02\xc3\x28") == Undecodable("GetTaskRequest")  # invalid UTF-8


def test_an_undecodable_request_is_invalid_argument_saying_so() -> None:
    with pytest.raises(InvalidArgument) as caught:
        admit(Undecodable("GetTaskRequest"))
    assert caught.value.message == "invalid argument: the request is not a valid GetTaskRequest"
    assert [v.description for v in caught.value.violations] == ["is not a valid GetTaskRequest"]


def test_an_undecodable_message_of_a_stream_is_named_by_position() -> None:
    with pytest.raises(InvalidArgument) as caught:
        admit(Undecodable("ImportMembersRequest"), "requests[4].")
    [violation] = caught.value.violations
    assert violation.field == "requests[4]"


def test_admit_hands_on_a_good_request_and_refuses_a_bad_one() -> None:
    good = tasks_pb2.GetTaskRequest(id="t-1")
    assert admit(good) is good
    with pytest.raises(InvalidArgument):
        admit(tasks_pb2.GetTaskRequest(id="t\x00"))


@pytest.mark.parametrize(
    "given_", ["req-1", "0f8a5c1e-2b7d-4e1a-9a63-55e0b8e7d4f1", "a.b:c_d-e", "x" * 128]
)
def test_a_plain_request_id_from_the_caller_is_kept(given_: str) -> None:
    assert request_id_from(given_) == given_


@pytest.mark.parametrize(
    "given_", ["evil\nrpc method=/x status=OK", "x" * 129, "a b", "ü", "a\x00", 'q"']
)
def test_any_other_request_id_is_replaced_and_the_replacement_logged(
    given_: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="linli.rpc"):
        fresh = request_id_from(given_)
    assert fresh != given_
    assert validation_free(fresh)
    [record] = caplog.records
    assert "replaced the caller's request id" in record.getMessage()
    assert "\n" not in record.getMessage()


def test_a_missing_request_id_gets_a_fresh_one_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="linli.rpc"):
        assert validation_free(request_id_from(None))
    assert caplog.records == []


def validation_free(request_id: str) -> bool:
    return request_id_from(request_id) == request_id


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_log_line_stays_one_line_whatever_it_quotes(fmt: Format) -> None:
    record = logging.LogRecord(
        "linli.rpc", logging.INFO, __file__, 1, "value=%s", ("a\nforged line\rx",), None
    )
    line = formatter("tasks", fmt).format(record)
    assert "\n" not in line and "\r" not in line
    assert "value=a\\nforged line\\rx" in line


async def _stream(*items: object) -> AsyncIterator[object]:
    for item in items:
        yield item


async def test_a_client_stream_is_checked_whole_before_its_first_message_is_handed_on() -> None:
    good = tasks_pb2.GetTaskRequest(id="t-1")
    with pytest.raises(InvalidArgument) as caught:
        await admit_stream(_stream(good, good, Undecodable("GetTaskRequest")))
    assert [v.field for v in caught.value.violations] == ["requests[2]"]

    handed_on = await admit_stream(_stream(good, good))
    assert [r async for r in handed_on] == [good, good]


async def test_a_bidirectional_stream_is_checked_message_by_message() -> None:
    good = tasks_pb2.GetTaskRequest(id="t-1")
    seen = []
    with pytest.raises(InvalidArgument) as caught:
        async for request in admit_each(_stream(good, tasks_pb2.GetTaskRequest(id="\x00"))):
            seen.append(request)
    assert seen == [good]
    assert [v.field for v in caught.value.violations] == ["requests[1].id"]
