"""The checks every service runs on the ids a caller names (services/common/checks.py)."""

from __future__ import annotations

import uuid

import pytest

from services.common.checks import ID_MAX, text_id_arg, uuid_arg
from services.common.errors import FieldViolation, InvalidArgument


def refused(call: object, *args: str) -> FieldViolation:
    with pytest.raises(InvalidArgument) as caught:
        call(*args)  # type: ignore[operator]
    [violation] = caught.value.violations
    return violation


def test_an_id_is_given_back_in_the_one_spelling_records_use() -> None:
    member = uuid.uuid4()
    assert uuid_arg(str(member).upper(), "member_id") == str(member)
    assert uuid_arg(member.hex, "member_id") == str(member)


def test_a_missing_id_is_required_by_name() -> None:
    assert refused(uuid_arg, "", "task_id") == FieldViolation("task_id", "is required")


@pytest.mark.parametrize("value", ["42", "x" * 10_000, "' or 1=1 --", "\x00"])
def test_what_cannot_be_an_id_is_refused_by_name_without_echoing_it(value: str) -> None:
    violation = refused(uuid_arg, value, "member_id", "must be a member id (a UUID)")
    assert violation == FieldViolation("member_id", "must be a member id (a UUID)")


def test_an_organisation_id_may_be_empty_or_short_printable_text() -> None:
    assert text_id_arg("", "community_id") == ""
    assert text_id_arg("binhu-c01", "community_id") == "binhu-c01"


@pytest.mark.parametrize("value", ["c" * (ID_MAX + 1), "c\n1", "c\x00"])
def test_an_organisation_id_that_could_not_be_one_is_refused_by_name(value: str) -> None:
    violation = refused(text_id_arg, value, "community_id")
    assert violation.field == "community_id"
    assert violation.description == f"must be at most {ID_MAX} printable characters"
