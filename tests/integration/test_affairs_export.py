"""`linli affairs` as a person runs it, against real servers: the ledger exported as an Excel
workbook, opened again with openpyxl: the office's columns, one row per item, the resident
masked unless the caller handles the item; and the list and the figures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from linli.v1 import affairs_pb2 as pb
from services.client.ledger import COLUMNS
from services.common.auth import Role
from services.common.settings import AffairsSettings
from tests.integration.affairs_support import (
    Street,
    affairs,
    affairs_clock,
    affairs_rt,
    affairs_settings,
    concern,
    log,
    make_street,
)
from tests.integration.cli_support import linli
from tests.support import request_id, token

__all__ = ["affairs", "affairs_clock", "affairs_rt", "affairs_settings"]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def street(stub, affairs_rt, affairs_settings: AffairsSettings) -> Street:  # type: ignore[no-untyped-def]
    return await make_street(stub, affairs_rt, affairs_settings)


def env_for(affairs_rt, tok: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"LINLI_AFFAIRS_ADDRESS": f"127.0.0.1:{affairs_rt.port}", "LINLI_TOKEN": tok}


async def test_the_ledger_exports_as_a_workbook_in_the_offices_columns(
    affairs, street: Street, affairs_rt, affairs_settings: AffairsSettings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    first = await log(affairs, street.staff, concern(street.home, street.home_grid))
    second = await log(
        affairs,
        street.staff,
        concern(
            street.home,
            street.home_grid,
            summary="东门停车乱",
            phone="19900006666",
            category=pb.ITEM_CATEGORY_PARKING,
        ),
    )
    await affairs.ResolveItem(
        pb.ResolveItemRequest(id=first.id, request_id=request_id(), outcome="更换了灯具"),
        metadata=street.staff,
    )
    await affairs.RecordResidentAnswer(
        pb.RecordResidentAnswerRequest(
            id=first.id, request_id=request_id(), answer=pb.RESIDENT_ANSWER_SATISFIED
        ),
        metadata=street.staff,
    )
    await affairs.EscalateItem(
        pb.EscalateItemRequest(id=second.id, request_id=request_id(), reason="需交警"),
        metadata=street.staff,
    )
    staff_token = token(
        affairs_settings, Role.COMMUNITY_STAFF, "staff-x", communities=(street.home,)
    )
    street_token = token(affairs_settings, Role.STREET_ADMIN, "sa-x", streets=(street.street,))
    sheets = {}
    for who, tok in (("staff", staff_token), ("street", street_token)):
        out = tmp_path / f"{who}.xlsx"
        code, stdout, stderr = await linli(
            "affairs",
            "export",
            "--community",
            street.home,
            "--out",
            str(out),
            env=env_for(affairs_rt, tok),
        )
        assert code == 0, stderr
        assert "2 items" in stdout
        ws = load_workbook(out).active
        assert ws is not None
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        assert tuple(rows[0]) == COLUMNS
        sheets[who] = {r[3]: dict(zip(COLUMNS, r, strict=True)) for r in rows[1:]}
    done = sheets["staff"]["3号楼楼道灯坏了"]
    assert done["序号"] == 1 and done["来源/网格"] == f"网格/{street.home_grid}"
    assert done["反映人"] == "测试·孙丽 19900004444"
    assert (done["类别"], done["办理阶段"], done["办理结果"], done["群众评价"]) == (
        "住房维修",
        "已销号",
        "更换了灯具",
        "满意",
    )
    assert done["销号时间"] and done["受理时间"] and done["是否超期"] == "否"
    up = sheets["staff"]["东门停车乱"]
    assert (up["序号"], up["办理阶段"], up["销号时间"]) == (2, "已上报街道", None)
    # The street's office sees the ledger, not the residents.
    masked = sheets["street"]["3号楼楼道灯坏了"]["反映人"]
    assert "19900004444" not in masked and "199****4444" in masked and "孙丽" not in masked


def in_thread(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """The command in this process (its own event loop, in a thread): quicker than a process."""
    from click.testing import CliRunner

    from services.cli.main import linli as command

    result = CliRunner().invoke(command, args, env=env)
    return result.exit_code, result.output


async def test_the_list_the_item_and_the_figures_from_the_command(
    affairs, street: Street, affairs_rt, affairs_settings: AffairsSettings
) -> None:  # type: ignore[no-untyped-def]
    item = await log(affairs, street.staff, concern(street.home, street.home_grid))
    tok = token(affairs_settings, Role.STREET_ADMIN, "sa-y", streets=(street.street,))
    env = env_for(affairs_rt, tok)
    listing = ["--output", "json", "affairs", "list", "--street", street.street, "--stage", "open"]
    code, out = await asyncio.to_thread(in_thread, listing, env)
    assert code == 0, out
    assert item.id in {i["id"] for i in json.loads(out)["items"]}
    counting = ["--output", "json", "affairs", "figures", "--street", street.street]
    code, out = await asyncio.to_thread(in_thread, counting, env)
    assert code == 0, out
    figures = json.loads(out)
    assert figures["streets"][0]["scope_id"] == street.street
    assert figures["total"]["raised"] >= 1
    code, out = await asyncio.to_thread(in_thread, ["affairs", "show", item.id], env)
    assert code == 0 and "created" in out and "199****4444" in out, out
