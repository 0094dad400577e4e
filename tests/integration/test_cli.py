"""The `linli` command against the running services: a members file as Excel saves it, a weekly
role written as people write days, JSON output, the ids it prints accepted back, and staff's
report-in queue and certificates."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook

from linli.v1 import registry_pb2
from services.common.auth import Role
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from tests.integration.cli_support import linli, where
from tests.integration.conftest import District
from tests.support import auth, member_proto, phone, ref, request_id, token

pytestmark = pytest.mark.integration
HEADER = [
    "request_id",
    "name",
    "phone",
    "lat",
    "lng",
    "community_id",
    "grid_id",
    "building_group_id",
    "unit_id",
    "skills",
    "availability",
    "hours_per_month",
]


def rows(d: District, n: int) -> list[list[str]]:
    return [
        [
            ref("req"),
            f"测试·党员{i}",
            phone(),
            "36.9811",
            "117.1711",
            d.community,
            d.grid,
            d.group,
            d.unit,
            "tutoring:2",
            "sat 08:00-12:00",
            "8",
        ]
        for i in range(n)
    ]


def district_file(d: District, tmp_path: Path) -> Path:
    # The organisation exists already: loading it again changes nothing, and names only ids.
    path = tmp_path / "district.yaml"
    path.write_text(f"streets:\n  - id: {d.street}\n    name: 测试街道\n", encoding="utf-8")
    return path


@pytest.fixture
def env(
    registry: ServiceRuntime,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
    settings: RegistrySettings,
) -> dict[str, str]:
    admin = token(settings, Role.DISTRICT_ADMIN, "district-office")
    return where(registry, tasks_rt, matching_rt) | {"LINLI_TOKEN": admin}


@pytest.mark.parametrize("form", ["utf-8-sig", "gbk", "xlsx"])
async def test_district_load_registers_every_member_of_a_file_saved_by_excel(
    district: District, env: dict[str, str], tmp_path: Path, form: str
) -> None:
    members = rows(district, 3)
    if form == "xlsx":
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(HEADER)
        for row in members:
            sheet.append([*row[:2], int(row[2]), float(row[3]), float(row[4]), *row[5:]])
        buffer = io.BytesIO()
        book.save(buffer)
        path = tmp_path / "members.xlsx"
        path.write_bytes(buffer.getvalue())
    else:
        path = tmp_path / "members.csv"
        text = "\r\n".join(",".join(r) for r in [HEADER, *members]) + "\r\n"
        path.write_bytes(text.encode(form))

    code, out, err = await linli(
        "--output",
        "json",
        "district",
        "load",
        str(district_file(district, tmp_path)),
        "--members",
        str(path),
        env=env,
    )

    assert code == 0, err
    result = json.loads(out)["members"]
    assert (result["registered"], result["rejected"]) == (3, [])


async def test_a_weekly_role_as_people_write_it_and_the_ids_printed_are_accepted(
    district: District, env: dict[str, str]
) -> None:
    common = ["--community", district.community, "--group", "child", "--at", "36.9811,117.1711"]
    common += ["--headcount", "2", "--hours", "1.5", "--from", "16:30", "--to", "18:00"]
    common += ["--first-date", "2026-12-01", "--last-date", "2027-01-31"]
    made = []
    for days in ("mon, fri", "monday"):
        code, out, err = await linli(
            "--output", "json", "role", "create", "--title", f"四点半学校 {days}", "--days", days,
            *common, env=env,
        )  # fmt: skip
        assert code == 0, err
        made.append(json.loads(out))
    assert made[0]["role"]["weekly"]["days"] == ["DAY_OF_WEEK_MONDAY", "DAY_OF_WEEK_FRIDAY"]
    assert made[1]["role"]["weekly"]["days"] == ["DAY_OF_WEEK_MONDAY"]
    assert made[0]["role"]["weekly"]["start_minute"] == 990

    code, out, err = await linli(
        "tasks", "list", "--community", district.community, "--limit", "1000", env=env
    )
    assert code == 0, err
    listed = await linli(
        "--output", "json", "tasks", "list", "--community", district.community, "--limit", "1000",
        env=env,
    )  # fmt: skip
    ids = [t["id"] for t in json.loads(listed[1])["tasks"]]
    assert ids and all(i in out for i in ids)  # the table prints every id in full

    code, out, err = await linli(
        "--output", "json", "match", "run", "--community", district.community, "--dry-run",
        env=env,
    )  # fmt: skip
    assert code == 0, err
    run_id = json.loads(out)["run"]["id"]
    code, out, err = await linli("--output", "json", "match", "show", run_id[:8], env=env)
    assert code == 0, err
    assert json.loads(out)["run"]["id"] == run_id
    code, out, err = await linli("match", "show", "zzzzzzzz", env=env)
    assert code == 2 and "no run start with 'zzzzzzzz'" in err


async def test_staff_work_through_the_report_in_queue_and_verify_a_certificate(
    stub, district: District, env: dict[str, str], settings: RegistrySettings
) -> None:  # type: ignore[no-untyped-def]
    app = auth(token(settings, Role.SERVICE, "app-backend"))
    newcomers = []
    for _ in range(2):
        m = await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(),
                member=member_proto(district.community, district.grid, skills=(("medical", 3),)),
            ),
            metadata=app,
        )
        newcomers.append(m.member.id)
    staff = env | {
        "LINLI_TOKEN": token(
            settings, Role.COMMUNITY_STAFF, "staff-cli", communities=(district.community,)
        )
    }
    code, out, err = await linli(
        "--output", "json", "member", "pending", "--community", district.community, env=staff
    )  # fmt: skip
    assert code == 0, err
    assert set(newcomers) <= {m["id"] for m in json.loads(out)["members"]}
    code, out, err = await linli("member", "accept", newcomers[0], env=staff)
    assert code == 0 and "accepted" in out, err
    code, out, err = await linli(
        "member", "refuse", newcomers[1], "--reason", "不在本社区居住", env=staff
    )
    assert code == 0 and "refused" in out, err
    code, out, err = await linli(
        "--output", "json", "member", "verify", newcomers[0], "--skill", "medical",
        "--certificate", "110101", "--expires", f"{date.today().year + 3}-12-31", env=staff,
    )  # fmt: skip
    assert code == 0, err
    (skill,) = json.loads(out)["member"]["skills"]
    assert skill["verified"] and skill["certificate_number"] == "110101"
    code, out, err = await linli(
        "member", "unverify", newcomers[0], "--skill", "medical", env=staff
    )
    assert code == 0, err
    code, _, err = await linli("member", "accept", newcomers[1], env=staff)
    assert code != 0 and "not pending" in err
