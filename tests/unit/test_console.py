"""The console's parts that need no server: the sealed session cookie, the CSRF token, its
settings, the catalogue (every message has its Chinese), field errors by form field, the map."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import grpc
import pytest
from babel.messages.extract import extract_from_dir
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc import aio

from linli.v1 import common_pb2, identity_pb2, registry_pb2
from services.common.protoconv import ts
from services.common.settings import ConsoleSettings
from services.common.values import LOCAL_TZ
from services.console import formats, maps
from services.console.i18n import HERE, load_catalogue, translations
from services.console.nav import NAV
from services.console.pages.checkin import by_field
from services.console.pages.points import hundredths
from services.console.pages.standing import expiry
from services.console.session import Sealer, Session
from services.console.web import errors_for, local_path

KEY = os.urandom(32)


def a_session(now: float) -> Session:
    from datetime import UTC, datetime

    tokens = identity_pb2.Tokens(
        access_token="header.payload.signature",
        access_expires_at=ts(datetime.fromtimestamp(now + 900, UTC)),
        refresh_token="refresh-token",
        refresh_expires_at=ts(datetime.fromtimestamp(now + 86400, UTC)),
        principal=common_pb2.Principal(
            subject="a", role=common_pb2.ROLE_COMMUNITY_STAFF, community_ids=["chengli"]
        ),
    )
    return Session.signed_in("staff-chengli", tokens, now)


def test_a_sealed_session_opens_only_with_its_key_and_unaltered() -> None:
    now = time.time()
    sealer = Sealer(KEY, 3600)
    s = a_session(now)
    value = sealer.seal(s)
    assert "refresh-token" not in value and "header" not in value  # sealed, not just signed
    assert sealer.open(value, now) == s
    assert Sealer(os.urandom(32), 3600).open(value, now) is None
    flipped = value[:20] + ("A" if value[20] != "A" else "B") + value[21:]
    assert sealer.open(flipped, now) is None
    assert sealer.open("", now) is None and sealer.open("not base64 at all!", now) is None


def test_a_session_ends_after_its_longest_life_or_its_refresh_token() -> None:
    now = time.time()
    sealer = Sealer(KEY, 3600)
    value = sealer.seal(a_session(now))
    assert sealer.open(value, now + 3599) is not None
    assert sealer.open(value, now + 3601) is None
    assert Sealer(KEY, 10 * 86400).open(value, now + 86401) is None


def test_the_csrf_token_is_bound_to_the_session_it_was_given_with() -> None:
    sealer = Sealer(KEY, 3600)
    token = sealer.csrf_token("sid-1")
    assert sealer.csrf_ok("sid-1", token)
    assert not sealer.csrf_ok("sid-2", token)
    assert not sealer.csrf_ok("sid-1", "")
    assert not sealer.csrf_ok("", sealer.csrf_token(""))
    assert not Sealer(os.urandom(32), 3600).csrf_ok("sid-1", token)


def test_cookies_are_secure_except_on_a_developers_loopback() -> None:
    assert ConsoleSettings(dev_mode=False).secure_cookies()
    assert ConsoleSettings(dev_mode=True).secure_cookies() is False
    assert ConsoleSettings(dev_mode=True, console_host="0.0.0.0").secure_cookies()
    assert ConsoleSettings(dev_mode=True, console_secure_cookies=True).secure_cookies()


def test_the_console_refuses_to_start_unsafely() -> None:
    with pytest.raises(SystemExit, match="development key"):
        ConsoleSettings(dev_mode=False).refuse_unsafe()
    with pytest.raises(SystemExit, match="32 random bytes"):
        ConsoleSettings(console_session_key="c2hvcnQ=").refuse_unsafe()  # type: ignore[arg-type]
    own = ConsoleSettings(
        dev_mode=False,
        console_session_key=base64.b64encode(KEY).decode(),  # type: ignore[arg-type]
    )
    own.refuse_unsafe()
    with pytest.raises(SystemExit, match="dev mode only"):
        own.model_copy(update={"console_secure_cookies": False}).refuse_unsafe()
    ConsoleSettings(dev_mode=True).refuse_unsafe()


def _message_ids() -> set[str]:
    found = set()
    for _, _, msg, _, _ in extract_from_dir(
        str(HERE),
        method_map=[("templates/**.html", "jinja2")],
        options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
    ):
        found.add(msg if isinstance(msg, str) else msg[0])
    return found | set(formats.WORDS) | {e.label for e in NAV} | {f"day{d}" for d in range(1, 8)}


def test_every_message_of_the_console_has_its_chinese() -> None:
    catalogue = load_catalogue()
    missing = sorted(m for m in _message_ids() if not (catalogue.get(m) and catalogue[m].string))
    assert missing == []
    zh = translations()["zh-CN"]
    assert zh.gettext("Today") == "今日" and translations()["en"].gettext("Today") == "Today"


def _refusal(*violations: tuple[str, str]) -> aio.AioRpcError:
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
            for f, d in violations
        ]
    )
    detail = any_pb2.Any()
    detail.Pack(bad)
    status = status_pb2.Status(code=3, message="invalid", details=[detail])
    return aio.AioRpcError(
        grpc.StatusCode.INVALID_ARGUMENT,
        aio.Metadata(),
        aio.Metadata(("grpc-status-details-bin", status.SerializeToString())),
        details="invalid",
    )


def test_the_services_field_errors_land_next_to_their_form_fields() -> None:
    err = _refusal(
        ("wish.headcount", "must be 1 to 100 (got 0)"),
        ("wish.window.end", "must be after start"),
        ("request_id", "is required"),
    )
    found = errors_for(err, "wish.", ("headcount", "window", "title"))
    assert found["headcount"] == "must be 1 to 100 (got 0)"
    assert found["window"] == "must be after start"
    assert found[""] == "request_id is required"  # names no field of the form: above it
    role = errors_for(
        _refusal(("role.weekly.days", "must name at least one day")),
        "role.",
        ("days", "weekly"),
        {"weekly.days": "days"},
    )
    assert role == {"days": "must name at least one day"}


def test_the_map_draws_grids_stations_and_places_escaped() -> None:
    community = registry_pb2.Community(
        id="c", name="城里社区", station=common_pb2.LatLng(latitude=36.97, longitude=117.16)
    )
    grid = registry_pb2.Grid(
        id="g",
        name="一网格",
        center=common_pb2.LatLng(latitude=36.975, longitude=117.165),
        radius_m=300,
    )
    place = maps.Place("t1", "<script>x</script>", 36.972, 117.163, "unfilled")
    svg = str(maps.draw([community], [grid], [place], label="城里社区"))
    assert svg.count('class="grid"') == 1 and svg.count('class="station"') == 1
    assert svg.count('class="place unfilled"') == 1 and 'href="/tasks/t1"' in svg
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert " style=" not in svg  # the CSP allows no inline styles
    assert str(maps.draw([], [], [], label="x")) == ""


def test_the_console_holds_no_inline_script_or_style() -> None:
    for template in (HERE / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "<script>" not in text and " style=" not in text and "<style" not in text, (
            template.name
        )
    assert Path(HERE / "static" / "console.js").is_file()


@pytest.mark.parametrize(
    "given",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "x",
        "",
    ],
)
def test_the_language_switch_never_sends_the_browser_elsewhere(given: str) -> None:
    assert local_path(given) == "/"


def test_the_language_switch_returns_to_the_page_it_came_from() -> None:
    assert local_path("/tasks/abc?posted=1") == "/tasks/abc?posted=1"


def test_points_typed_by_staff_become_the_ledgers_hundredths() -> None:
    assert hundredths("2.5") == 250 and hundredths(" 0.01 ") == 1 and hundredths("10") == 1000
    assert hundredths("") == 0 and hundredths("两分") == 0  # the service names the field


def test_a_certificate_is_valid_through_the_day_written_on_it() -> None:
    until = expiry("2027-03-31")
    assert until is not None and until.tzinfo is not None
    assert until.astimezone(LOCAL_TZ).isoformat().startswith("2027-04-01T00:00:00")
    assert expiry("31/03/2027") is None and expiry("") is None


def test_a_refused_decision_lands_on_the_members_own_fields() -> None:
    err = _refusal(("decisions[1].reason", "is required"), ("decisions[0].minutes", "too many"))
    names = {"decisions[0].minutes": "minutes-0", "decisions[1].reason": "reason-1"}
    assert by_field(err, names) == {"minutes-0": "too many", "reason-1": "is required"}
    assert by_field(_refusal(("task_id", "bad")), names) == {"": "task_id bad"}
