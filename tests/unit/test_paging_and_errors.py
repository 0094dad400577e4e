"""Page sizes and tokens (services/common/paging.py) and domain errors as gRPC statuses
(services/common/errors.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2
from hypothesis import given
from hypothesis import strategies as st

from services.common import errors, paging
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
    Unauthenticated,
    invalid,
)

FILTERS = {"kind": "grid", "parent": "binhu"}
KEY = b"a page-token key for these tests"


@pytest.fixture(autouse=True)
def _signing_key() -> Iterator[None]:
    with paging.signing_key(KEY):
        yield


def _nested(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10), _nested, max_leaves=8
)


def only_violation(e: InvalidArgument) -> FieldViolation:
    assert len(e.violations) == 1
    return e.violations[0]


# ---------------------------------------------------------------------------------------------
# Page sizes


def test_a_page_size_of_zero_means_the_default() -> None:
    assert paging.page_size(0) == paging.DEFAULT_PAGE_SIZE == 100


@pytest.mark.parametrize(("asked", "given_"), [(1, 1), (250, 250), (1000, 1000), (1001, 1000)])
def test_a_page_size_is_kept_up_to_the_cap(asked: int, given_: int) -> None:
    assert paging.page_size(asked) == given_


@given(st.integers(min_value=0, max_value=2**63))
def test_a_page_size_is_always_between_one_and_the_cap(asked: int) -> None:
    assert 1 <= paging.page_size(asked) <= paging.MAX_PAGE_SIZE


@given(st.integers(max_value=-1))
def test_a_negative_page_size_is_invalid_naming_page_size(asked: int) -> None:
    with pytest.raises(InvalidArgument) as caught:
        paging.page_size(asked)
    assert only_violation(caught.value) == FieldViolation("page_size", "must not be negative")


# ---------------------------------------------------------------------------------------------
# Page tokens


def test_no_token_means_the_first_page() -> None:
    assert paging.decode("", FILTERS) is None


@given(st.text(), JSON_VALUES)
def test_a_token_gives_back_the_key_it_was_made_from(key: str, filters: object) -> None:
    token = paging.encode(key, filters)
    assert token
    assert paging.decode(token, filters) == key


@given(st.text(max_size=20))
def test_a_token_is_url_safe_text(key: str) -> None:
    token = paging.encode(key, FILTERS)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_the_order_of_filter_keys_does_not_matter() -> None:
    token = paging.encode("k", {"kind": "grid", "parent": "binhu"})
    assert paging.decode(token, {"parent": "binhu", "kind": "grid"}) == "k"


@given(st.text(max_size=20), JSON_VALUES, JSON_VALUES)
def test_a_token_made_for_other_filters_is_invalid_naming_page_token(
    key: str, made_for: object, used_with: object
) -> None:
    same = json.dumps(made_for, sort_keys=True) == json.dumps(used_with, sort_keys=True)
    token = paging.encode(key, made_for)
    if same:
        assert paging.decode(token, used_with) == key
        return
    with pytest.raises(InvalidArgument) as caught:
        paging.decode(token, used_with)
    v = only_violation(caught.value)
    assert v.field == "page_token"
    assert v.description == "was issued for other filters; start again without it"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        "x",
        "ünïcode",
        b64(b"not json"),
        b64(b"[1, 2]"),
        b64(b'"text"'),
        b64(b"7"),
        b64(b'{"a": "k"}'),
        b64(b'{"f": "0123456789abcdef"}'),
        b64(b"\xff\xfe\x00"),
    ],
)
def test_a_token_this_service_did_not_issue_is_invalid_naming_page_token(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        paging.decode(token, FILTERS)
    v = only_violation(caught.value)
    assert (v.field, v.description) == ("page_token", "not a token this service issued")


@given(st.text(min_size=1))
def test_any_text_as_a_token_is_either_a_key_or_invalid_naming_page_token(token: str) -> None:
    try:
        after = paging.decode(token, FILTERS)
    except InvalidArgument as e:
        assert only_violation(e).field == "page_token"
    else:
        assert isinstance(after, str)


def test_a_token_of_deeply_nested_json_is_invalid_naming_page_token() -> None:
    with pytest.raises(InvalidArgument) as caught:
        paging.decode(b64(b"[" * 100_000), FILTERS)
    assert only_violation(caught.value).field == "page_token"


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
    assert error.code is code
    status = error.to_status()
    assert status.code == code.value[0]
    assert status.message == error.message == str(error)


def test_the_status_codes_agree_with_google_rpc() -> None:
    assert InvalidArgument([]).to_status().code == code_pb2.INVALID_ARGUMENT
    assert NotFound("member", "m-1").to_status().code == code_pb2.NOT_FOUND
    assert Unauthenticated("x").to_status().code == code_pb2.UNAUTHENTICATED
    assert PermissionDenied("x").to_status().code == code_pb2.PERMISSION_DENIED


def test_an_error_of_no_particular_kind_is_internal() -> None:
    assert DomainError("bug").to_status().code == code_pb2.INTERNAL


def unpack_bad_request(error: DomainError) -> error_details_pb2.BadRequest:
    [detail] = error.to_status().details
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
    [detail] = error.to_status().details
    info = error_details_pb2.ResourceInfo()
    assert detail.Unpack(info)
    assert (info.resource_type, info.resource_name) == ("member", "m-42")


def test_already_exists_names_the_field_in_its_error_info() -> None:
    [detail] = AlreadyExists("phone 170... is registered", "phone").to_status().details
    info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(info)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "ALREADY_EXISTS",
        DOMAIN,
        {"field": "phone"},
    )


def test_a_failed_precondition_carries_its_reason_and_metadata() -> None:
    error = FailedPrecondition("member is inactive", "MEMBER_INACTIVE", member_id="m-1")
    [detail] = error.to_status().details
    info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(info)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "MEMBER_INACTIVE",
        "linli.v1",
        {"member_id": "m-1"},
    )


@pytest.mark.parametrize("error", [PermissionDenied("no"), Unauthenticated("no")])
def test_access_errors_carry_no_details(error: DomainError) -> None:
    assert list(error.to_status().details) == []


# ---------------------------------------------------------------------------------------------
# Signed page tokens


def test_a_token_altered_in_any_byte_is_invalid_naming_page_token() -> None:
    token = paging.encode("k-1", FILTERS)
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for i in range(len(raw)):
        altered = bytearray(raw)
        altered[i] ^= 0x01
        with pytest.raises(InvalidArgument) as caught:
            paging.decode(b64(bytes(altered)), FILTERS)
        v = only_violation(caught.value)
        assert (v.field, v.description) == ("page_token", "not a token this service issued")


def test_a_token_forged_with_the_right_fingerprint_is_invalid_naming_page_token() -> None:
    # What a caller could build before tokens were signed: the key of their choice.
    forged = b64(json.dumps({"a": "\x00' or 1=1", "f": paging._fingerprint(FILTERS)}).encode())
    with pytest.raises(InvalidArgument) as caught:
        paging.decode(forged, FILTERS)
    assert only_violation(caught.value).field == "page_token"


def test_a_token_signed_with_another_key_is_invalid_naming_page_token() -> None:
    with paging.signing_key(b"the key of another deployment"):
        token = paging.encode("k-1", FILTERS)
    with pytest.raises(InvalidArgument) as caught:
        paging.decode(token, FILTERS)
    assert only_violation(caught.value).field == "page_token"


def test_tokens_cannot_be_made_or_read_without_a_key() -> None:
    with paging.signing_key(KEY):
        token = paging.encode("k-1", FILTERS)
    import contextvars

    empty = contextvars.Context()
    with pytest.raises(RuntimeError):
        empty.run(paging.encode, "k-1", FILTERS)
    with pytest.raises(RuntimeError):
        empty.run(paging.decode, token, FILTERS)


def test_the_page_token_key_comes_from_settings_and_differs_from_the_jwt_secret() -> None:
    from pydantic import SecretStr

    from services.common.settings import Settings

    derived = Settings().page_token_key()
    assert derived != Settings().jwt_secret.get_secret_value().encode()
    assert derived == Settings().page_token_key()  # every replica derives the same
    other = Settings(jwt_secret=SecretStr("another secret of at least 32 bytes!"))
    assert other.page_token_key() != derived
    chosen = Settings(page_token_secret=SecretStr("pages"))
    assert chosen.page_token_key() == b"pages"


# ---------------------------------------------------------------------------------------------
# Errors stay small whatever the input


def test_a_huge_id_is_quoted_short_in_not_found() -> None:
    error = NotFound("member", "m" * 10_000)
    assert len(error.message) < 100
    assert error.message.startswith("member 'mmm") and error.message.endswith("…' not found")
    assert error.to_status().ByteSize() < 300


def test_a_huge_value_in_a_violation_is_cut() -> None:
    error = invalid("id" * 1000, "unknown id " + "x" * 10_000)
    status = error.to_status()
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
    status = error.to_status()
    assert sum(d.ByteSize() for d in status.details) <= errors.DETAILS_MAX
    assert len(error.message) <= errors.MESSAGE_MAX
    if violations:
        # The first violation is always named.
        bad = unpack_bad_request(error)
        assert bad.field_violations[0].field == errors.cut(violations[0].field, errors.FIELD_MAX)


def test_error_info_metadata_from_input_is_cut() -> None:
    error = FailedPrecondition("inactive", "MEMBER_INACTIVE", member_id="m" * 5000)
    [detail] = error.to_status().details
    info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(info)
    assert len(info.metadata["member_id"]) == errors.QUOTE_MAX


def test_details_too_large_in_sum_are_left_out_but_the_message_stays() -> None:
    class Chatty(DomainError):
        def details(self) -> list[any_pb2.Any]:
            packed = any_pb2.Any()
            packed.Pack(error_details_pb2.DebugInfo(detail="x" * 5000))
            return [packed]

    status = Chatty("something went wrong").to_status()
    assert list(status.details) == []
    assert status.message == "something went wrong"


# -- one cursor for every List call ----------------------------------------------------------


def test_a_cursor_pages_through_rows_and_the_last_page_has_no_token() -> None:
    rows = [str(i) for i in range(7)]
    seen: list[str] = []
    token = ""
    while True:
        c = paging.cursor(3, token, FILTERS, paging.position_key)
        start = 0 if c.after is None else c.after + 1
        page, token = c.page(rows[start : start + c.fetch], lambda r: r)
        seen += page
        if not token:
            break
    assert seen == rows


def test_a_cursor_refuses_a_token_whose_key_is_not_what_the_list_sorts_by() -> None:
    token = paging.encode("not-a-uuid", FILTERS)
    for parse in (paging.uuid_key, paging.time_key, paging.position_key):
        with pytest.raises(InvalidArgument) as e:
            paging.cursor(10, token, FILTERS, parse)
        assert e.value.violations[0].field == "page_token"


def test_a_time_key_comes_back_as_it_was_written() -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    token = paging.encode(paging.time_token(when, "abc"), FILTERS)
    assert paging.cursor(5, token, FILTERS, paging.time_key).after == (when, "abc")
