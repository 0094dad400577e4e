"""The staff console in a browser, through the real services: a staff member signs in, posts a
wish (a bad field first), runs matching dry, reads an explanation, publishes, and confirms the task
done with hours; staff of another community cannot open it; the pages are Chinese, draw their
maps, fit a phone, pass axe-core, and refuse forms without their CSRF token."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from datetime import date, timedelta
from pathlib import Path

import httpx
import openpyxl
import pytest
from playwright.sync_api import Browser, Page

from linli.v1 import affairs_pb2, registry_pb2, tasks_pb2
from services.client import Stubs, assignments_of, members_of
from tests.e2e.console_support import (
    HOME,
    PASSWORD,
    Console,
    admin_md,
    another_console,
    browser,
    console,
    has_chinese,
    member_md,
    no_sideways_scroll,
    run_async,
    serious_violations,
    sign_in,
)
from tests.support import member_proto

pytestmark = pytest.mark.e2e
__all__ = ["browser", "console"]  # fixtures

STORY: dict[str, str] = {}
PAGES = ("/", "/inbox", "/wishes/new", "/roles/new", "/matching", "/members", "/ledger", "/reports")
# axe-core takes seconds a page: the pages with the most kinds of element (the others share
# their templates' parts).
AXE = {"/", "/inbox", "/wishes/new", "/roles/new", "/members", "/ledger"}


def shot(page: Page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000  # a page was drawn, not a blank
    return path


def test_a_staff_member_runs_a_wish_from_posting_to_hours(
    console: Console, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(f"{console.url}/")
    assert page.url.endswith("/signin")  # signed out: sign in first
    sign_in(page, console, HOME)

    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["linli_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert not session["secure"]  # plain HTTP on 127.0.0.1 in dev mode only (see unit tests)

    assert has_chinese(page.inner_text("main"))
    assert page.locator("svg.map circle.grid").count() > 0  # the community's grids are drawn
    shot(page, tmp_path, "today")

    # A wish with a bad field: the task service's error appears next to that field.
    page.goto(f"{console.url}/wishes/new?community={HOME}")
    page.fill("#title", "为独居老人代购一周蔬菜")
    page.select_option("#beneficiary_group", "1")
    page.fill("#address", "城里社区3号楼2单元")
    page.locator("svg.map").click()  # the place, picked on the map
    assert page.input_value("#latitude") and page.input_value("#longitude")
    page.check("input[name=flexible]")
    page.fill("#headcount", "0")
    page.click("form[action='/wishes'] button[type=submit]")
    error = page.locator("#err-headcount")
    assert error.is_visible()
    assert "headcount" not in page.inner_text("#err-headcount") or error.inner_text()
    assert page.get_attribute("#headcount", "aria-invalid") == "true"
    shot(page, tmp_path, "wish-error")

    page.fill("#headcount", "1")
    page.click("form[action='/wishes'] button[type=submit]")
    page.wait_for_url(re.compile(r"/tasks/[0-9a-f-]{36}\?posted=1$"))
    task_id = page.url.split("/tasks/")[1].split("?")[0]
    STORY["task"] = task_id
    assert "为独居老人代购一周蔬菜" in page.inner_text("h1")
    assert page.locator("svg.map circle.place").count() == 1  # its place on the map
    shot(page, tmp_path, "task-posted")

    # Matching, dry: the plan with each match's explanation; then published.
    page.goto(f"{console.url}/matching?community={HOME}")
    page.click("form[action='/matching/runs'] button.primary")
    page.wait_for_url(re.compile(r"/matching/runs/[0-9a-f-]{36}$"), timeout=150_000)
    assert page.locator(".explanation").count() >= 1
    assert page.locator(".explanation").first.inner_text().strip()
    assert page.locator("svg.map circle.place").count() >= 1
    shot(page, tmp_path, "dry-run")
    dry = page.url
    page.click("form[action$='/publish'] button")
    page.wait_for_url(lambda url: url != dry and "/matching/runs/" in url, timeout=150_000)
    assert page.locator("form[action$='/publish']").count() == 0  # published: nothing to publish
    shot(page, tmp_path, "published")

    # The proposed member accepts (in the app); the staff confirm the work done with hours.
    accepted = run_async(_accept_or_claim(console, task_id))
    STORY["member"] = accepted
    page.goto(f"{console.url}/tasks/{task_id}")
    hours = page.locator("input[name^='hours-']")
    assert hours.count() == 1
    hours.fill("1.5")
    page.fill("#comment", "老人很满意")
    page.click("form[action$='/complete'] button[type=submit]")
    page.wait_for_url(f"{console.url}/tasks/{task_id}")
    assert page.locator(".badge.completed").count() == 1
    record = run_async(_record(console, accepted))
    assert record.hours_total == 1.5
    shot(page, tmp_path, "completed")
    context.close()


def test_staff_show_the_check_in_code_then_confirm_and_correct_the_hours(
    console: Console, browser: Browser, tmp_path: Path
) -> None:
    task_id = STORY.get("task")
    assert task_id, "the story above completes the task"
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    sign_in(page, console, HOME)

    # The code to show on site: the service's QR SVG as an image, the code to type, and a
    # refresh (no script) when the next code takes over.
    page.goto(f"{console.url}/tasks/{task_id}")
    page.click(f"a[href='/tasks/{task_id}/code?purpose=in']")
    assert page.locator("h1").inner_text() == "签到码"
    # The page reloads itself with each code: its HTML is read once, apart from the browser.
    html = context.request.get(f"{console.url}/tasks/{task_id}/code?purpose=in").text()
    qr = re.search(r'<img class="qr" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)
    assert qr and "<svg" in base64.b64decode(qr.group(1)).decode("utf-8")
    assert re.search(r'<p class="big-code"[^>]*>[A-Z2-7]{8}</p>', html)
    refresh = re.search(r'<meta http-equiv="refresh" content="(\d+)">', html)
    assert refresh and 5 <= int(refresh.group(1)) <= 60
    shot(page, tmp_path, "check-in-code")
    page.click(f"a[href='/tasks/{task_id}/code?purpose=out']")
    assert page.locator("h1").inner_text() == "签退码"

    # Hours: the completed member did not check in; minutes out of range are refused beside
    # the field, then confirmed.
    page.goto(f"{console.url}/tasks/{task_id}")
    assert "候补名单" in page.inner_text("main")
    assert page.input_value("#minutes-0") == "90"  # what completion said: 1.5 h
    page.fill("#minutes-0", "0")
    page.click("form[action$='/hours'] button[type=submit]")
    assert page.locator("#err-minutes-0").is_visible()
    assert page.get_attribute("#minutes-0", "aria-invalid") == "true"
    page.fill("#minutes-0", "90")
    page.click("form[action$='/hours'] button[type=submit]")
    page.wait_for_url(re.compile(rf"/tasks/{task_id}#hours$"))
    assert page.locator("tr.hours-record").count() == 1
    assert "已确认" in page.inner_text("tr.hours-record")

    # A correction needs its reason; with it, a new record supersedes the old one.
    page.locator("#hours details summary").first.click()
    form = page.locator("form[action$='/correct']")
    form.locator("input[name=minutes]").fill("60")
    form.locator("button[type=submit]").click()
    assert page.locator("[id^='err-reason-']").is_visible()
    form = page.locator("form[action$='/correct']")
    form.locator("input[name=minutes]").fill("60")
    form.locator("input[name=reason]").fill("提前一小时结束")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/tasks/{task_id}#hours$"))
    rows = page.locator("tr.hours-record").all_inner_texts()
    assert len(rows) == 2 and "已被更正" in " ".join(rows) and "提前一小时结束" in rows[0]
    shot(page, tmp_path, "hours")
    context.close()


def test_the_members_points_show_on_their_page_and_a_redemption_is_recorded(
    console: Console, browser: Browser
) -> None:
    member = STORY.get("member")
    assert member, "the story above confirms the member's hours"
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    sign_in(page, console, HOME)
    # The confirmed hours become points through the ledger's events: wait for them.
    for _ in range(120):
        page.goto(f"{console.url}/members/{member}")
        if page.locator("#points tr.movement").count():
            break
        page.wait_for_timeout(500)
    before = float(page.inner_text("#points .balance"))
    assert before > 0 and "获得" in page.inner_text("#points tbody")
    page.fill("#redeem-item", "理发券")
    page.fill("#redeem-amount", "不是数字")
    page.click("form[action$='/points/redeem'] button[type=submit]")
    assert page.locator("#err-redeem-amount").is_visible()
    page.fill("#redeem-item", "理发券")
    page.fill("#redeem-amount", "0.01")
    page.click("form[action$='/points/redeem'] button[type=submit]")
    page.wait_for_url(f"{console.url}/members/{member}#points")
    assert float(page.inner_text("#points .balance")) == round(before - 0.01, 2)
    assert "兑换" in page.inner_text("#points tbody")
    context.close()


def test_staff_verify_a_report_in_and_a_certificate(console: Console, browser: Browser) -> None:
    member = run_async(_pending_member(console))
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    sign_in(page, console, HOME)
    page.goto(f"{console.url}/members?community={HOME}")
    queue = page.locator("#report-ins")
    assert "测试·待审核" in queue.inner_text()
    # Refused without a reason: the registry names the field, shown beside it.
    queue.locator(f"form[action^='/members/{member}/'] button[value=refuse]").click()
    assert page.locator(f"#err-reason-{member}").is_visible()
    page.locator(f"form[action^='/members/{member}/'] button[value=accept]").click()
    page.wait_for_url(f"{console.url}/members?community={HOME}")
    assert "测试·待审核" not in page.inner_text("#report-ins")
    assert "测试·待审核" in page.inner_text("main")  # now among the community's members

    page.goto(f"{console.url}/members/{member}")
    form = page.locator("form[action$='/skills/medical/verify']")
    form.locator("button[type=submit]").click()
    assert page.locator("#err-number-medical").is_visible()
    page.fill("#number-medical", "370102-2026-0815")
    page.fill("#expiry-medical", "2099-12-31")  # beyond what a certificate may run
    page.locator("form[action$='/skills/medical/verify'] button[type=submit]").click()
    assert page.locator("#err-expiry-medical").is_visible()
    page.fill("#number-medical", "370102-2026-0815")
    page.fill("#expiry-medical", (date.today() + timedelta(days=730)).isoformat())
    page.locator("form[action$='/skills/medical/verify'] button[type=submit]").click()
    page.wait_for_url(f"{console.url}/members/{member}#certificates")
    assert "已核验" in page.inner_text("#certificates")
    assert "370102-2026-0815" in page.inner_text("#certificates")
    context.close()


def test_the_staffs_inbox_counts_unread_items_and_marks_them_read(
    console: Console, browser: Browser
) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    sign_in(page, console, HOME)
    # The report-in above reached the staff's inbox as an event: wait for it to be written.
    for _ in range(120):
        page.goto(f"{console.url}/inbox")
        if page.locator(".inbox li.unread").count():
            break
        page.wait_for_timeout(500)
    assert page.locator(".inbox li.unread").count() >= 1
    badge = page.locator("nav a[href='/inbox'] .count")
    assert int(badge.inner_text().split()[0]) == page.locator(".inbox li.unread").count()
    page.click("button.mark-all")
    page.wait_for_url(f"{console.url}/inbox")
    assert page.locator(".inbox li.unread").count() == 0
    assert page.locator("nav a[href='/inbox'] .count").count() == 0
    context.close()


def test_the_affairs_ledger_filters_shows_an_items_history_and_downloads_the_workbook(
    console: Console, browser: Browser, tmp_path: Path
) -> None:
    item = run_async(_ledger_item(console))
    context = browser.new_context(locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    sign_in(page, console, HOME)
    page.click("nav a[href='/ledger']")
    assert "楼道灯不亮" in page.inner_text("main")
    page.select_option("#stage", str(affairs_pb2.ITEM_STAGE_CLOSED))
    page.click("form[action='/ledger'] button[type=submit]")
    assert "stage=6" in page.url and "楼道灯不亮" not in page.inner_text("main")
    page.goto(f"{console.url}/ledger?community={HOME}&overdue=1")
    assert "楼道灯不亮" not in page.inner_text("main")  # just received: not overdue
    page.goto(f"{console.url}/ledger?community={HOME}")
    page.click(f"a[href='/ledger/items/{item}']")
    assert page.locator("ol.history li").count() >= 1
    page.goto(f"{console.url}/ledger?community={HOME}")
    with page.expect_download() as got:
        page.click("a[href^='/ledger.xlsx']")
    path = tmp_path / "ledger.xlsx"
    got.value.save_as(path)
    sheet = openpyxl.load_workbook(path).active
    assert sheet is not None and sheet.cell(1, 4).value == "诉求内容"
    assert "5号楼楼道灯不亮" in [row[3] for row in sheet.iter_rows(min_row=2, values_only=True)]
    context.close()

    # Staff of another community: the same page for this item as for one that does not exist.
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, console, console.other)
    theirs = page.goto(f"{console.url}/ledger/items/{item}")
    theirs_text = page.inner_text("main")
    missing = page.goto(f"{console.url}/ledger/items/{uuid.uuid4()}")
    assert theirs is not None and missing is not None
    assert theirs.status == missing.status == 404 and theirs_text == page.inner_text("main")
    context.close()


async def _ledger_item(c: Console) -> str:
    async with Stubs(c.system.addresses()) as stubs:
        grid = (
            await stubs.registry.ListGrids(
                registry_pb2.ListGridsRequest(community_id=HOME), metadata=admin_md()
            )
        ).grids[0]
        made = await stubs.affairs.CreateItem(
            affairs_pb2.CreateItemRequest(
                request_id=uuid.uuid4().hex,
                item=affairs_pb2.Item(
                    community_id=HOME,
                    grid_id=grid.id,
                    summary="5号楼楼道灯不亮",
                    category=affairs_pb2.ITEM_CATEGORY_HOUSING,
                    urgency=affairs_pb2.ITEM_URGENCY_NORMAL,
                    place="城里社区5号楼",
                    source="grid",
                    contact=affairs_pb2.Contact(name="测试·孙丽", phone="19900004444"),
                ),
            ),
            metadata=admin_md(),
        )
        return str(made.item.id)


async def _pending_member(c: Console) -> str:
    """A member registered elsewhere who reports in to HOME themself: pending there."""
    async with Stubs(c.system.addresses()) as stubs:
        grid = (
            await stubs.registry.ListGrids(
                registry_pb2.ListGridsRequest(community_id=HOME), metadata=admin_md()
            )
        ).grids[0]
        made = await stubs.registry.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=uuid.uuid4().hex,
                member=member_proto(name="测试·待审核", skills=(("medical", 3),)),
            ),
            metadata=admin_md(),
        )
        mid = made.member.id
        await stubs.registry.ReportIn(
            registry_pb2.ReportInRequest(member_id=mid, community_id=HOME, grid_id=grid.id),
            metadata=member_md(mid),
        )
        return str(mid)


async def _accept_or_claim(c: Console, task_id: str) -> str:
    """The member matching proposed accepts; returns who holds the place."""
    async with Stubs(c.system.addresses()) as stubs:
        for _ in range(600):  # proposals travel as events: up to a minute on a loaded machine
            found = await assignments_of(
                stubs, admin_md(), task_id, [tasks_pb2.ASSIGNMENT_STATE_PROPOSED]
            )
            if found:
                await stubs.tasks.AcceptProposal(
                    tasks_pb2.AcceptProposalRequest(assignment_id=found[0].id),
                    metadata=member_md(found[0].member_id),
                )
                return found[0].member_id
            await asyncio.sleep(0.1)
    raise AssertionError("the published run proposed nobody for the wish")


async def _record(c: Console, member_id: str) -> tasks_pb2.MemberRecord:
    async with Stubs(c.system.addresses()) as stubs:
        return (
            await stubs.tasks.GetMemberRecord(
                tasks_pb2.GetMemberRecordRequest(member_id=member_id), metadata=admin_md()
            )
        ).record


def test_a_role_without_its_days_is_refused_beside_the_days_then_created(
    console: Console, browser: Browser
) -> None:
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, console, HOME)
    page.goto(f"{console.url}/roles/new?community={HOME}")
    page.fill("#title", "四点半学校课业辅导")
    page.locator("svg.map").click()
    page.fill("#headcount", "2")
    page.click("form[action='/roles'] button[type=submit]")
    assert page.locator("#err-days").is_visible()
    page.check("input[name=days][value='2']")
    page.check("input[name=days][value='4']")
    page.fill("#start", "16:30")
    page.fill("#end", "18:00")
    page.click("form[action='/roles'] button[type=submit]")
    page.wait_for_url(re.compile(r"/\?community=chengli&role_created="))
    assert "四点半学校课业辅导" in page.inner_text("main")
    context.close()


def test_staff_of_another_community_cannot_open_the_task_by_its_url(
    console: Console, browser: Browser
) -> None:
    task_id = STORY.get("task")
    assert task_id, "the story above posts the task"
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, console, console.other)
    theirs = page.goto(f"{console.url}/tasks/{task_id}")
    theirs_text = page.inner_text("main")
    missing = page.goto(f"{console.url}/tasks/{uuid.uuid4()}")
    missing_text = page.inner_text("main")
    assert theirs is not None and missing is not None
    assert theirs.status == missing.status == 404
    assert theirs_text == missing_text  # the same page: a URL tells nothing of what exists
    assert "为独居老人" not in theirs_text
    code = page.goto(f"{console.url}/tasks/{task_id}/code?purpose=in")
    assert code is not None and code.status == 404 and page.inner_text("main") == missing_text
    context.close()


def test_every_page_fits_a_phone_and_passes_axe(
    console: Console, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, console, HOME)
    task_id = STORY.get("task")
    member = STORY.get("member")
    pages = [
        *PAGES,
        *([f"/tasks/{task_id}"] if task_id else []),
        *([f"/members/{member}"] if member else []),  # points and certificates
    ]
    axe = AXE | set(pages[len(PAGES) :])
    found: dict[str, list[str]] = {}
    for path in pages:
        answer = page.goto(f"{console.url}{path}")
        assert answer is not None and answer.status == 200, path
        assert has_chinese(page.inner_text("body")), path
        assert no_sideways_scroll(page), path
        shot(page, tmp_path, "phone" + path.replace("/", "-"))
        if path in axe and (bad := serious_violations(page)):
            found[path] = bad
    assert found == {}
    members = run_async(_members(console))
    if members:
        page.goto(f"{console.url}/members/{members[0]}/record")
        assert no_sideways_scroll(page)
        page.emulate_media(media="print")
        assert page.locator("header.top").is_hidden()  # printed without the navigation
    context.close()


async def _members(c: Console) -> list[str]:
    async with Stubs(c.system.addresses()) as stubs:
        return [m.id for m in await members_of(stubs, admin_md(), HOME)][:1]


def test_english_is_one_switch_away(console: Console, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, console, HOME)
    page.click("form[action='/lang'] button[value=en]")
    page.wait_for_url(f"{console.url}/")
    assert page.locator("h1").inner_text().startswith("Today")
    page.click("form[action='/lang'] button[value=zh-CN]")
    assert page.locator("h1").inner_text().startswith("今日")
    context.close()


def test_forms_without_their_csrf_token_are_refused(console: Console, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, console, HOME)
    for form in ({}, {"csrf": "forged"}):
        answer = context.request.post(
            f"{console.url}/wishes",
            form={**form, "community_id": HOME, "title": "不该发布", "headcount": "1"},
            max_redirects=0,
        )
        assert answer.status == 403
    refused = context.request.post(f"{console.url}/signout", form={}, max_redirects=0)
    assert refused.status == 403
    context.close()


def test_signing_out_ends_the_sign_in(console: Console, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, console, HOME)
    kept = {c["name"]: c["value"] for c in context.cookies()}["linli_session"]
    page.click("form[action='/signout'] button")
    page.wait_for_url(f"{console.url}/signin")
    assert "linli_session" not in {c["name"] for c in context.cookies()}
    # The old cookie, replayed, no longer opens the console: its refresh token is revoked and
    # its access token with it.
    replay = browser.new_context()
    replay.add_cookies([{"name": "linli_session", "value": kept, "url": console.url}])
    again = replay.new_page()
    again.goto(f"{console.url}/members")
    assert again.url.endswith("/signin")
    replay.close()
    context.close()


def test_the_session_is_refreshed_and_stays_signed_in(console: Console, browser: Browser) -> None:
    # A console that refreshes at every request: each answer seals new tokens into the cookie,
    # and pages asked at once with the same cookie spend its refresh token once.
    with another_console(console.system, console_refresh_margin_s="86400") as url:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{url}/signin")
        page.fill("#user_name", console.staff(HOME))
        page.fill("#password", PASSWORD)
        page.click("form[action='/signin'] button[type=submit]")
        page.wait_for_url(f"{url}/")
        seen = []
        for path in ("/", "/members", "/matching"):
            seen.append({c["name"]: c["value"] for c in context.cookies()}["linli_session"])
            answer = page.goto(f"{url}{path}")
            assert answer is not None and answer.status == 200 and page.url == f"{url}{path}"
        assert len(set(seen)) == len(seen)  # new tokens each time
        cookie = {c["name"]: c["value"] for c in context.cookies()}["linli_session"]
        answers = run_async(_at_once(f"{url}/reports", cookie, 3))
        assert [a.status_code for a in answers] == [200, 200, 200]
        # The sign-in lives on: its refresh token was spent once, not presented again (which
        # would have ended it), and each answer's cookie goes on working.
        for a in answers:
            (later,) = run_async(_at_once(f"{url}/", a.cookies["linli_session"], 1))
            assert later.status_code == 200 and "/signin" not in str(later.url)
        context.close()


async def _at_once(url: str, cookie: str, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(cookies={"linli_session": cookie}) as client:
        return list(await asyncio.gather(*(client.get(url) for _ in range(n))))


def test_no_personal_data_in_urls(console: Console, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, console, HOME)
    page.goto(f"{console.url}/members?community={HOME}")
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    phones = re.compile(r"1\d{10}")
    assert hrefs and not [h for h in hrefs if phones.search(h)]
    context.close()
