"""Domain errors (services/common/errors.py) and what a caller is told of them: the status code
and the google.rpc details of each kind (services/common/interceptors/statuses.py)."""

from __future__ import annotations

import importlib
import pkgutil

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2
from hypothesis import given
from hypothesis import strategies as st

import services
from services.common import errors
from services.common.errors import (
    DOMAIN,
    Aborted,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    invalid,
)
from services.common.interceptors.statuses import STATUSES, details, status_code, to_status

# ---------------------------------------------------------------------------------------------
# Errors as statuses


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (invalid("name", "must not be empty"), grpc.StatusCode.INVALID_ARGUMENT),
        (NotFound("member", "m-1"), grpc.StatusCode.NOT_FOUND),
        (AlreadyExists("phone taken", "phone"), grpc.StatusCode.ALREADY_EXISTS),
        (FailedPrecondition("inactive", "MEMBER_INACTIVE"), grpc.StatusCode.FAILED_PRECONDITION),
        (Aborted("try again", "CONFLICT"), grpc.StatusCode.ABORTED),
        (PermissionDenied("not yours"), grpc.StatusCode.PERMISSION_DENIED),
        (Unauthenticated("no token"), grpc.StatusCode.UNAUTHENTICATED),
    ],
)
def test_each_error_maps_to_its_status_code(error: DomainError, code: grpc.StatusCode) -> None:
    assert status_code(error) is code
    status = to_status(error)
    assert status.code == code.value[0]
    assert status.message == error.message == str(error)


def test_the_status_codes_agree_with_google_rpc() -> None:
    assert to_status(InvalidArgument([])).code == code_pb2.INVALID_ARGUMENT
    assert to_status(NotFound("member", "m-1")).code == code_pb2.NOT_FOUND
    assert to_status(Unauthenticated("x")).code == code_pb2.UNAUTHENTICATED
    assert to_status(PermissionDenied("x")).code == code_pb2.PERMISSION_DENIED


def test_an_error_of_no_particular_kind_is_internal() -> None:
    assert to_status(DomainError("bug")).code == code_pb2.INTERNAL


def unpack_bad_request(error: DomainError) -> error_details_pb2.BadRequest:
    [detail] = to_status(error).details
    bad = error_details_pb2.BadRequest()
    assert detail.Unpack(bad)
    return bad


VIOLATIONS = st.lists(
    st.builds(FieldViolation, st.text(max_size=20), st.text(max_size=40)), min_size=1, max_size=12
)


@given(VIOLATIONS)
def test_invalid_argument_carries_every_violation_in_a_bad_request(
    violations: list[FieldViolation],
) -> None:
    bad = unpack_bad_request(InvalidArgument(violations))
    assert [(v.field, v.description) for v in bad.field_violations] == [
        (v.field, v.description) for v in violations
    ]


def test_invalid_argument_takes_one_violation_or_a_list() -> None:
    one = FieldViolation("phone", "must be a mainland mobile number")
    assert InvalidArgument(one).violations == [one]
    assert invalid("phone", "must be a mainland mobile number").violations == [one]


def test_the_message_of_invalid_argument_names_five_violations_and_counts_the_rest() -> None:
    violations = [FieldViolation(f"f{i}", f"bad {i}") for i in range(7)]
    message = InvalidArgument(violations).message
    assert message == (
        "invalid argument: f0: bad 0; f1: bad 1; f2: bad 2; f3: bad 3; f4: bad 4 (and 2 more)"
    )
    assert "f5" not in message
    assert len(unpack_bad_request(InvalidArgument(violations)).field_violations) == 7


def test_the_message_of_a_single_violation_names_it() -> None:
    assert invalid("page_size", "must not be negative").message == (
        "invalid argument: page_size: must not be negative"
    )


def test_not_found_carries_the_resource_it_looked_for() -> None:
    error = NotFound("member", "m-42")
    assert error.message == "member 'm-42' not found"
    [detail] = to_status(error).details
    info = error_details_pb2.ResourceInfo()
    assert detail.Unpack(info)
    assert (info.resource_type, info.resource_name) == ("member", "m-42")


def test_already_exists_names_the_field_in_its_error_info() -> None:
    [detail] = to_status(AlreadyExists("phone 170... is registered", "phone")).details
    info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(info)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "ALREADY_EXISTS",
        DOMAIN,
        {"field": "phone"},
    )


def test_a_failed_precondition_carries_its_reason_and_metadata() -> None:
    error = FailedPrecondition("member is inactive", "MEMBER_INACTIVE", member_id="m-1")
    [detail] = to_status(error).details
    info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(info)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "MEMBER_INACTIVE",
        "linli.v1",
        {"member_id": "m-1"},
    )


@pytest.mark.parametrize("error", [PermissionDenied("no"), Unauthenticated("no")])
def test_access_errors_carry_no_details(error: DomainError) -> None:
    assert list(to_status(error).details) == []


# ---------------------------------------------------------------------------------------------
# Errors stay small whatever the input


def test_a_huge_id_is_quoted_short_in_not_found() -> None:
    error = NotFound("member", "m" * 10_000)
    assert len(error.message) < 100
    assert error.message.startswith("member 'mmm") and error.message.endswith("…' not found")
    assert to_status(error).ByteSize() < 300


def test_a_huge_value_in_a_violation_is_cut() -> None:
    error = invalid("id" * 1000, "unknown id " + "x" * 10_000)
    status = to_status(error)
    assert len(error.message) <= errors.MESSAGE_MAX
    assert status.ByteSize() < 2 * errors.DETAILS_MAX
    [v] = unpack_bad_request(error).field_violations
    assert len(v.field) == errors.FIELD_MAX and v.field.endswith("…")
    assert len(v.description) == errors.DESCRIPTION_MAX and v.description.endswith("…")


@given(
    st.lists(st.builds(FieldViolation, st.text(max_size=500), st.text(max_size=2000)), max_size=200)
)
def test_the_details_of_any_invalid_argument_stay_under_the_bound(
    violations: list[FieldViolation],
) -> None:
    error = InvalidArgument(violations)
    status = to_status(error)
    assert sum(d.ByteSize() for d in status.details) <= errors.DETAILS_MAX
    assert len(error.message) <= errors.MESSAGE_MAX
    if violations:
        # The first violation is always named.
        bad = unpack_bad_request(error)
        assert bad.field_violations[0].field == errors.cut(violations[0].field, errors.FIELD_MAX)


def test_error_info_metadata_from_input_is_cut() -> None:
    error = FailedPrecondition("inactive", "MEMBER_INACTIVE", member_id="m" * 5000)
    [detail] = to_status(error).details
    info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(info)
    assert len(info.metadata["member_id"]) == errors.QUOTE_MAX


def test_details_too_large_in_sum_are_left_out_but_the_message_stays() -> None:
    # Every value is cut, but many of them still add up past the bound.
    metadata = {f"key{i}": "v" * 5000 for i in range(40)}
    error = FailedPrecondition("something went wrong", "SOMETHING", **metadata)
    assert sum(d.ByteSize() for d in details(error)) > errors.DETAILS_MAX
    status = to_status(error)
    assert list(status.details) == []
    assert status.message == "something went wrong"


def test_an_allowance_used_up_carries_its_reason_and_when_to_retry() -> None:
    error = ResourceExhausted("3 runs in progress", "TOO_MANY_RUNS", retry_after_s=1.5)
    assert status_code(error) is grpc.StatusCode.RESOURCE_EXHAUSTED
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    first, second = to_status(error).details
    assert first.Unpack(info) and second.Unpack(retry)
    assert (info.reason, info.domain) == ("TOO_MANY_RUNS", DOMAIN)
    assert retry.retry_delay == duration_pb2.Duration(seconds=1, nanos=500_000_000)


def test_an_allowance_used_up_without_reason_or_delay_carries_no_details() -> None:
    assert list(to_status(ResourceExhausted("too many phone changes today")).details) == []


def test_a_service_error_is_told_as_the_kind_it_derives_from() -> None:
    class TaskTaken(FailedPrecondition):
        pass

    error = TaskTaken("every place is taken", "TASK_FULL", task_id="t-1")
    assert status_code(error) is grpc.StatusCode.FAILED_PRECONDITION
    [detail] = to_status(error).details
    info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(info)
    assert (info.reason, dict(info.metadata)) == ("TASK_FULL", {"task_id": "t-1"})


def _every_error_class() -> set[type[DomainError]]:
    """Every DomainError subclass the services define (their modules imported first)."""
    for module in pkgutil.walk_packages(services.__path__, "services."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found: set[type[DomainError]] = set()
    todo = [DomainError]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def test_every_error_the_services_raise_is_of_a_kind_the_table_tells() -> None:
    for kind in _every_error_class() - {errors._WithReason}:  # a base, never raised itself
        assert any(base in STATUSES for base in kind.__mro__), kind
        # The kind alone decides what a caller is told: no error carries its own status.
        assert not {"code", "details", "to_status"} & set(vars(kind)), kind


def test_an_exception_that_is_no_domain_error_is_internal() -> None:
    assert status_code(KeyError("bug")) is grpc.StatusCode.INTERNAL
