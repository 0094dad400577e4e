"""The `linli` command without the services: typed options whose errors name the flag (never a
traceback), --version, --output json, the command paths of the manifests, and members files as
Excel saves them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import click
import jwt
import pytest
from click.testing import CliRunner
from openpyxl import Workbook

from services.cli.base import ClockTime, Days, Place, Skill, When
from services.cli.district import member_from_row, read_members_file
from services.cli.main import linli, main, parse_only
from services.cli.match import pair
from services.client import addresses, token_from
from services.common.settings import ClientSettings

ROLE = [
    "role",
    "create",
    "--community",
    "c",
    "--title",
    "t",
    "--group",
    "child",
    "--at",
    "36.98,117.17",
    "--headcount",
    "3",
    "--hours",
    "1.5",
    "--first-date",
    "2026-12-01",
]
WEEKLY = {"--days": "mon,fri", "--from": "16:30", "--to": "18:00"}
UNREACHABLE = ["--registry", "127.0.0.1:9", "--tasks", "127.0.0.1:9", "--matching", "127.0.0.1:9"]


def role_with(**changes: str) -> list[str]:
    flags = WEEKLY | {f"--{k.replace('_', '-')}": v for k, v in changes.items()}
    return [*UNREACHABLE, *ROLE, *(x for kv in flags.items() for x in kv)]


def run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(linli, args)
    assert result.exc_info is None or isinstance(result.exc_info[1], SystemExit), result.output
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--days", "mo", "not a day of the week: 'mo'"),
        ("--days", "mon, fry", "not a day of the week: 'fry'"),
        ("--days", " , ", "name at least one day"),
        ("--from", "4pm", "not a time of day: '4pm'"),
        ("--to", "25:00", "not a time of day: '25:00'"),
        ("--at", "36.98", "takes LAT,LNG"),
        ("--at", "360,117", "not a place on Earth"),
        ("--skill", "tutoring:9", "a level 1-3"),
        ("--first-date", "12/01/2026", "not a date"),
        ("--once", "tomorrow", "not a time: 'tomorrow'"),
        ("--hours", "many", "'many' is not a valid float"),
        ("--group", "kids", "'kids' is not one of"),
    ],
)
def test_a_bad_value_is_refused_naming_its_flag_and_nothing_is_called(
    flag: str, value: str, says: str
) -> None:
    code, out = run(role_with(**{flag.removeprefix("--").replace("-", "_"): value}))
    assert code == 2
    assert f"Invalid value for '{flag}'" in out and says in out
    assert "Traceback" not in out and "UNAVAILABLE" not in out


def test_a_weekly_role_names_what_it_misses_and_to_must_follow_from() -> None:
    code, out = run([*UNREACHABLE, *ROLE, "--days", "mon"])
    assert code == 2 and "needs --from, --to" in out
    code, out = run(role_with(**{"from": "18:00", "to": "16:30"}))
    assert code == 2 and "Invalid value for --to: must be after --from" in out
    code, out = run(role_with(once="2026-12-05T09:00"))
    assert code == 2 and "--once is one time" in out


def test_wish_post_needs_a_start_or_an_until() -> None:
    base = [*UNREACHABLE, "wish", "post", "--community", "c", "--title", "t"]
    base += ["--group", "elderly", "--at", "36.98,117.17", "--hours", "1"]
    code, out = run(base)
    assert code == 2 and "--start" in out and "--until" in out
    code, out = run([*base, "--start", "2026-12-05T09:00", "--until", "2026-12-06T09:00"])
    assert code == 2


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("monday", [1]),
        ("mon, fri", [1, 5]),
        ("Mon,Tue,WED", [1, 2, 3]),
        ("sat sun", [6, 7]),
        ("fri,mon,fri", [1, 5]),
        ("thursday, tue", [2, 4]),
    ],
)
def test_days_are_read_as_people_write_them(text: str, days: list[int]) -> None:
    assert Days().convert(text, None, None) == days


def test_the_other_types_convert() -> None:
    assert ClockTime().convert("16:30", None, None) == 990
    assert ClockTime().convert("9", None, None) == 540
    assert ClockTime().convert("24:00", None, None) == 1440
    place = Place().convert(" 36.98, 117.17", None, None)
    assert (place.latitude, place.longitude) == (36.98, 117.17)
    skill = Skill().convert("tutoring:2", None, None)
    assert (skill.skill, skill.min_level) == ("tutoring", 2)
    assert Skill().convert("errands", None, None).min_level == 1
    # Local (Shanghai) time unless the text names its offset.
    assert When().convert("2026-12-05T09:00", None, None).ToJsonString() == "2026-12-05T01:00:00Z"
    assert When().convert("2026-12-05T09:00Z", None, None).ToJsonString() == "2026-12-05T09:00:00Z"
    with pytest.raises(click.BadParameter):
        Days().convert("funday", None, None)


def test_version_and_help() -> None:
    code, out = run(["--version"])
    assert code == 0 and out.startswith("linli, version ")
    groups = ("district", "wish", "role", "tasks", "match", "member", "report", "token", "affairs")
    for group in groups:
        code, out = run([group, "--help"])
        assert code == 0 and "Usage: linli " + group in out


def test_token_prints_json_with_output_json() -> None:
    code, out = run(["--output", "json", "token", "--role", "community_staff", "--community", "b"])
    assert code == 0
    signed = json.loads(out)["token"]
    claims = jwt.decode(signed, options={"verify_signature": False})
    assert claims["role"] == "community_staff"
    code, out = run(["token", "--role", "street_admin"])
    assert code == 2 and "needs --street" in out


def test_report_needs_a_real_token_and_a_month(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINLI_TOKEN", raising=False)
    code, out = run([*UNREACHABLE, "report", "--month", "2026-12", "--out", "r.html"])
    assert code == 2 and "--token or LINLI_TOKEN" in out
    code, out = run([*UNREACHABLE, "--token", "x", "report", "--month", "12/2026", "--out", "r"])
    assert code == 2 and "Invalid value for '--month'" in out


def test_main_returns_codes_and_explains_an_unreachable_service(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--version"]) == 0
    assert main(role_with(**{"from": "4pm"})) == 2
    assert "Invalid value for '--from'" in capsys.readouterr().err
    assert main([*UNREACHABLE, "--token", "t", "match", "show", "0" * 36]) == 1
    assert "UNAVAILABLE" in capsys.readouterr().err


def test_parse_only_checks_the_whole_command_line() -> None:
    argv = ["--matching", "matching:50053", "match", "run", "--street", "jiyang"]
    assert parse_only(argv) == ["match", "run"]
    with pytest.raises(click.BadParameter):
        parse_only(["match", "run", "--time-limit", "soon"])
    with pytest.raises(click.UsageError):
        parse_only(["match", "walk"])
    assert parse_only(["match", "run", "--draft"]) == ["match", "run"]
    assert parse_only(["match", "edit", "r1", "--pin", "t:m", "--remove", "t:n"]) == [
        "match",
        "edit",
    ]
    assert parse_only(["match", "publish", "r1"]) == ["match", "publish"]


def test_a_draft_edit_names_a_task_and_a_member() -> None:
    assert pair("t1:m1") == ("t1", "m1")
    for bad in ("t1", ":m1", "t1:"):
        with pytest.raises(click.BadParameter):
            pair(bad)


def test_addresses_follow_the_settings_make_uses(tmp_path: Path) -> None:
    state = tmp_path / "stack/state.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"services": {"tasks": {"pid": 1, "port": 6001}}}))
    settings = ClientSettings(
        state_dir=str(tmp_path), registry_port=7001, matching_address="matching:50053"
    )
    got = addresses({"registry": None}, settings)
    assert got == {
        "registry": "127.0.0.1:7001",
        "tasks": "127.0.0.1:6001",
        "matching": "matching:50053",
        "identity": "127.0.0.1:50054",
        "notifications": "127.0.0.1:50055",
        "points": "127.0.0.1:50056",
        "affairs": "127.0.0.1:50057",
    }
    elsewhere = ClientSettings(state_dir=str(tmp_path / "none"))
    assert addresses({"tasks": "h:1"}, elsewhere)["tasks"] == "h:1"
    assert addresses(None, elsewhere)["registry"] == "127.0.0.1:50051"


# -- members files as Excel saves them ------------------------------------------------------------

HEADER = "request_id,name,phone,lat,lng,community_id,grid_id,building_group_id,unit_id,skills,"
HEADER += "availability,hours_per_month"
ROWS = [
    "r-1,测试·王芳,13800138001,36.965,117.158,binhu,binhu-g01,,u1,tutoring:2,mon 16:30-18:30,10",
    "r-2,测试·李强,13800138002,36.966,117.159,binhu,binhu-g01,,u1,,,0",
]


def check(rows: list[dict[str, str]]) -> None:
    assert [r["name"] for r in rows] == ["测试·王芳", "测试·李强"]
    first = member_from_row(rows[0])
    assert first.request_id == "r-1" and first.member.phone == "13800138001"
    assert first.member.skills[0].skill == "tutoring" and first.member.hours_per_month == 10
    assert member_from_row(rows[1]).member.home.latitude == 36.966


@pytest.mark.parametrize(
    ("encoding", "newline"),
    [("utf-8", "\n"), ("utf-8-sig", "\r\n"), ("gbk", "\r\n"), ("gb18030", "\n")],
)
def test_a_members_csv_as_excel_saves_it_is_read(
    tmp_path: Path, encoding: str, newline: str
) -> None:
    path = tmp_path / "members.csv"
    path.write_bytes(newline.join([HEADER, *ROWS, ""]).encode(encoding))
    check(read_members_file(path))


def test_a_members_workbook_is_read(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER.split(","))
    for row in ROWS:
        cells: list[object] = list(row.split(","))
        cells[2], cells[3], cells[4] = (
            int(str(cells[2])),
            float(str(cells[3])),
            float(str(cells[4])),
        )
        cells[11] = int(str(cells[11]))
        sheet.append(cells)
    sheet.append([None] * 12)  # an empty row Excel leaves at the end
    buffer = io.BytesIO()
    book.save(buffer)
    path = tmp_path / "members.xlsx"
    path.write_bytes(buffer.getvalue())
    check(read_members_file(path))


def test_a_file_neither_utf8_nor_gbk_is_refused_in_words(tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    path.write_bytes(b"\xff\xfe\x00n\x00a\x00m\x00e\xff\xff")
    with pytest.raises(ValueError, match="neither UTF-8 nor GBK"):
        read_members_file(path)


def test_the_port_settings_make_up_uses_move_the_client(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LINLI_TASKS_PORT", "6200")
    monkeypatch.setenv("LINLI_TOKEN", "from-the-environment")
    settings = ClientSettings(state_dir=str(tmp_path))
    assert addresses(None, settings)["tasks"] == "127.0.0.1:6200"
    assert token_from(None, settings) == "from-the-environment"
    assert token_from("given", settings) == "given"


def test_an_export_needs_a_file_and_an_erasure_asks_before_it_acts() -> None:
    code, said = run(["member", "export", "7d0f1c9e-0000-4000-8000-000000000001"])
    assert code == 2 and "--out" in said
    result = CliRunner().invoke(
        linli, ["member", "erase", "7d0f1c9e-0000-4000-8000-000000000001"], input="n\n"
    )
    assert result.exit_code == 1 and "cannot be undone" in result.output
