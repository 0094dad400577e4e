"""What the console's browser tests stand on: a small district loaded into the running system,
staff accounts signed in through the identity service, and Playwright driving Debian's chromium
(no browser download)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

from dev import console as dev_console
from dev import gen_district
from dev.accounts import PASSWORD, staff_name
from dev.localinfra import free_port
from linli.v1 import common_pb2, identity_pb2
from services.cli.district import import_district, import_members
from services.client import Stubs, bearer
from services.common.auth import Principal, Role, issue_token
from services.common.settings import Settings
from tests.conftest import ROOT
from tests.e2e.conftest import System

T = TypeVar("T")
__all__ = ["PASSWORD"]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HOME = "chengli"


@dataclass(frozen=True)
class Console:
    url: str
    system: System
    other: str  # another community, whose staff must not see HOME's tasks

    def staff(self, community: str) -> str:
        return staff_name(community)


def admin_md() -> tuple[tuple[str, str], ...]:
    return bearer(issue_token(Settings(), Principal("e2e-admin", Role.DISTRICT_ADMIN)))


def member_md(member_id: str) -> tuple[tuple[str, str], ...]:
    return bearer(issue_token(Settings(), Principal(member_id, Role.MEMBER)))


def load(system: System) -> str:
    """The small district and its members, and an account for the staff of two communities;
    returns the other community."""
    district = gen_district.generate(seed=7, small=True)
    communities = sorted({m["community_id"] for m in district.members if m["community_id"]})
    other = next(c for c in communities if c != HOME)

    async def go() -> None:
        async with Stubs(system.addresses()) as stubs:
            await import_district(stubs.registry, admin_md(), gen_district.yaml_text(district))
            await import_members(stubs.registry, admin_md(), district.members)
            # The staff accounts, made by a district administrator (a development token: the
            # local stack runs in dev mode) as `linli account create` makes them.
            for community in (HOME, other):
                await stubs.identity.CreateAccount(
                    identity_pb2.CreateAccountRequest(
                        user_name=staff_name(community),
                        password=PASSWORD,
                        role=common_pb2.ROLE_COMMUNITY_STAFF,
                        community_ids=[community],
                    ),
                    metadata=admin_md(),
                )

    asyncio.run(go())
    return other


@pytest.fixture(scope="module")
def console(system: System) -> Console:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is missing: `make tools` installs it")
    assert system.state.console is not None
    other = load(system)
    return Console(f"http://127.0.0.1:{system.state.console['port']}", system, other)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def sign_in(page: Page, c: Console, community: str) -> None:
    page.goto(f"{c.url}/signin")
    page.fill("#user_name", c.staff(community))
    page.fill("#password", PASSWORD)
    page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_url(f"{c.url}/")


def no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations of the page (axe-core as vendored, pinned, by
    axe-playwright-python)."""
    result = Axe().run(page)
    found = result.response["violations"]
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])})"
        for v in found
        if v.get("impact") in ("serious", "critical")
    ]


def has_chinese(text: str) -> bool:
    return sum("\u4e00" <= ch <= "\u9fff" for ch in text) >= 10


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from a test that drives the browser: Playwright's sync API
    holds this thread's event loop, so the coroutine gets a thread and a loop of its own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@contextmanager
def another_console(system: System, **settings: str) -> Iterator[str]:
    """A second console process on the same services with other settings; yields its URL."""
    at = free_port()
    env = {
        **os.environ,
        "LINLI_DEV_MODE": "true",
        "LINLI_CONSOLE_PORT": str(at),
        "LINLI_METRICS_PORT": "-1",
        **{f"LINLI_{k.upper()}_ADDRESS": v for k, v in system.addresses().items()},
        **{f"LINLI_{k.upper()}": v for k, v in settings.items()},
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.console"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            if proc.poll() is not None:
                raise AssertionError("the second console exited at start")
            if dev_console.ready(at):
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{at}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
