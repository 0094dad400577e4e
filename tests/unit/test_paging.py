"""Page sizes, signed page tokens and the cursor of every List call (services/common/paging.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common import paging
from services.common.errors import FieldViolation, InvalidArgument

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


# A key is what the cursors make (an id, a time, a position): short. 120 characters of any text
# (4 bytes each at most in UTF-8) keep a token well within MAX_TOKEN_LENGTH, which decode
# enforces; an unbounded text drew, once in a while, a key no real cursor makes.
@given(st.text(max_size=120), JSON_VALUES)
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
