"""`linli report`: the month's report made by the command, as a district administrator runs it
against a live system with a real token, over the integration services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from linli.v1 import matching_pb2
from services.common.auth import Role
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from tests.integration.cli_support import linli, where
from tests.integration.tasks_support import (
    Neighbourhood,
    matched_neighbourhood,
    post,
    until,
    wish,
)
from tests.support import token

pytestmark = pytest.mark.integration
LOCAL = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def hood(
    stub,  # type: ignore[no-untyped-def]
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
    settings: RegistrySettings,
) -> Neighbourhood:
    return await matched_neighbourhood(
        stub, tasks_rt, matching_rt, settings, members=4, outsiders=1
    )


async def test_linli_report_writes_the_month_of_a_community_from_the_running_services(
    task_stub,  # type: ignore[no-untyped-def]
    match_stub,
    registry: ServiceRuntime,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,
    settings: RegistrySettings,
    tmp_path: Path,
) -> None:
    # 09:00 next Saturday: the members of tests.support are free 08:00-12:00 then.
    today = datetime.now(LOCAL).date()
    day = today + timedelta(days=(6 - today.isoweekday()) % 7 or 7)
    start = datetime(day.year, day.month, day.day, 9, tzinfo=LOCAL)
    task = await post(
        task_stub,
        hood.staff,
        wish(hood.home, start=start.astimezone(UTC), skills=(), title="报告测试心愿"),
    )  # type: ignore[arg-type]
    world = matching_rt.matching.world  # type: ignore[attr-defined]

    async def seen() -> bool:
        return task.id in world.tasks

    await until(seen)
    run = (
        await match_stub.RunMatching(
            matching_pb2.RunMatchingRequest(community_id=hood.home, time_limit_s=5),
            metadata=hood.staff,
        )
    ).run
    assert run.state == matching_pb2.MATCH_RUN_STATE_SUCCEEDED and run.places_filled == 1
    month = f"{start:%Y-%m}"
    out = tmp_path / "nested" / "report.html"
    admin = token(settings, Role.DISTRICT_ADMIN, "district-office")

    code, stdout, stderr = await linli(
        "report",
        "--month",
        month,
        "--community",
        hood.home,
        "--out",
        str(out),
        env=where(registry, tasks_rt, matching_rt) | {"LINLI_TOKEN": admin},
    )

    assert code == 0, stderr
    assert str(out) in stdout
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert f"{month} · {hood.home}" in page
    assert "本社区" in page and "邻社区" not in page  # the community asked for, and only it
    assert "1 communities · 4 members" in page
    assert "1 tasks (0 completed)" in page
    assert run.id in page  # the community's run of the month is the one shown


async def test_linli_report_needs_a_real_token_and_a_month(
    registry: ServiceRuntime,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
    tmp_path: Path,
) -> None:
    out = tmp_path / "report.html"
    env = where(registry, tasks_rt, matching_rt)

    code, _, stderr = await linli("report", "--month", "2026-12", "--out", str(out), env=env)
    assert code == 2 and "--token" in stderr and not out.exists()

    forged = {"LINLI_TOKEN": "not-a-token"}
    code, _, stderr = await linli(
        "report", "--month", "2026-12", "--out", str(out), env=env | forged
    )
    assert code == 1 and "UNAUTHENTICATED" in stderr and not out.exists()

    code, _, stderr = await linli(
        "report", "--month", "december", "--out", str(out), env=env | forged
    )
    assert code == 2 and "--month" in stderr and not out.exists()


async def test_linli_report_refuses_a_community_outside_a_staff_token(
    registry: ServiceRuntime,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,
    settings: RegistrySettings,
    tmp_path: Path,
) -> None:
    out = tmp_path / "report.html"
    staff = token(settings, Role.COMMUNITY_STAFF, "staff-home", communities=(hood.home,))
    code, _, stderr = await linli(
        "report",
        "--month",
        "2026-12",
        "--community",
        hood.other,
        "--out",
        str(out),
        env=where(registry, tasks_rt, matching_rt) | {"LINLI_TOKEN": staff},
    )
    assert code != 0 and "PERMISSION_DENIED" in stderr and not out.exists()
