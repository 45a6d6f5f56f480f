"""Staff first (issue 17): every demo user's first screen shows their own open work, in
English and Chinese, on a 1280 px desktop and a 390 px phone; no page scrolls sideways on
the phone; tap targets are 44 px; the task page puts the form first; the app installs.

Screenshots of every page in both languages and both widths go to artifacts/screenshots/
(`<page>-<lang>-<width>.png`)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import shot, sign_in

DEMO_USERS = ("zhang.proc", "li.qa", "guo.wh", "wang.qa", "chen.design", "zhao.hr", "admin")
LOCALES = {"en": "en-US", "zh": "zh-CN"}
WIDTHS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
INBOX_HEADING = {"en": "Inbox", "zh": "待办"}
# A task each person has open in the demo, as drawn and in Chinese.
OWN_WORK = {"zhang.proc": ("Register supplier delivery", "登记供应商到货"),
            "li.qa": ("Inspect goods", "检验来货"), "guo.wh": ("Warehouse intake", "仓库入库"),
            "wang.qa": ("Countersign the policy", "会签制度"),
            "chen.design": ("Countersign the policy", "会签制度"),
            "zhao.hr": ("Countersign the policy", "会签制度"),
            "admin": ("Countersign the policy", "会签制度")}


def open_page(new_page, lang: str, width: str) -> Page:
    options = {"is_mobile": True, "has_touch": True} if width == "phone" else {}
    page = new_page(locale=LOCALES[lang], viewport=WIDTHS[width], **options)
    page.set_default_navigation_timeout(45_000)  # two shared cores: pages with charts load slowly
    return page


def no_sideways_scroll(page: Page) -> None:
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{page.url} is {scroll} px wide on a {inner} px screen"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", LOCALES)
def test_each_demo_users_first_screen_shows_their_own_open_work(new_page, lang, width):
    page = open_page(new_page, lang, width)
    for username in DEMO_USERS:
        sign_in(page, username)
        expect(page.get_by_role("heading", level=1)).to_have_text(INBOX_HEADING[lang])
        rows = page.locator("tr.task-row")
        expect(rows.first).to_be_visible()
        drawn, chinese = OWN_WORK[username]
        name = chinese if lang == "zh" else drawn
        mine = page.locator("td.task-name a", has_text=name)
        expect(mine.first).to_be_visible()
        if lang == "zh":
            expect(page.locator("td.task-name a", has_text=drawn)).to_have_count(0)
        if width == "phone":
            no_sideways_scroll(page)
        shot(page, f"first-screen-{username}-{lang}-{width}")
        page.locator("form[action$='/sign-out'] button").click()


def test_the_phone_inbox_is_cards_with_one_primary_action_and_44px_targets(new_page):
    page = open_page(new_page, "en", "phone")
    sign_in(page, "li.qa")
    card = page.locator("tr.task-row").first
    assert card.evaluate("row => getComputedStyle(row).display") == "block"
    expect(page.locator("table.inbox thead")).to_be_hidden()
    for row in page.locator("tr.task-row").all():
        assert len([b for b in row.locator(".actions a, .actions button").all() if b.is_visible()]) == 1
        expect(row.locator("td.due")).to_be_visible()
        expect(row.locator("td.holder")).to_be_visible()
    small_targets(page)
    task_link = page.locator("td.task-name a", has_text="Inspect goods").first
    task_link.click()
    # The form comes first; the diagram waits behind its toggle.
    form_box = page.locator("#form-title").bounding_box()
    toggle = page.locator("details.diagram-toggle")
    assert toggle.evaluate("details => details.open") is False
    assert form_box["y"] < toggle.bounding_box()["y"]
    small_targets(page)
    toggle.locator("summary").click()
    expect(page.locator(".diagram[data-rendered=true]")).to_be_visible()
    no_sideways_scroll(page)


def small_targets(page: Page) -> None:
    selector = ("main button, main a.button-link, main select, main input:not([type=hidden])"
                ":not([type=checkbox]), header nav a, details.diagram-toggle > summary")
    for element in page.locator(selector).all():
        if element.is_visible():
            box = element.bounding_box()
            assert box["height"] >= 44, f"{element.evaluate('e => e.outerHTML')[:120]} is {box['height']} px"


def test_the_web_app_manifest_and_its_icons(new_page):
    page = new_page()
    page.goto("/sign-in")
    href = page.locator("link[rel=manifest]").get_attribute("href")
    manifest = page.request.get(href)
    assert manifest.ok and manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert body["display"] == "standalone" and body["start_url"] == "/inbox"
    sizes = set()
    for icon in body["icons"]:
        image = page.request.get(icon["src"])
        assert image.ok and image.headers["content-type"] == "image/png"
        assert image.body()[:8] == b"\x89PNG\r\n\x1a\n"
        sizes.add(icon["sizes"])
    assert {"192x192", "512x512"} <= sizes


def every_page(page: Page) -> list[tuple[str, str]]:
    """(name, path) of every page, found from the demo's own data as admin sees it."""
    page.goto("/inbox")
    task = page.locator("td.task-name a").first.get_attribute("href")
    page.goto(task)
    instance = page.locator("p.muted a").first.get_attribute("href")
    page.goto("/hr")
    run = page.locator("a[href*='/hr/payroll-runs/']").first.get_attribute("href")
    pages = [("inbox", "/inbox"), ("task", task), ("instance", instance),
             ("processes", "/processes"), ("org", "/org"), ("duty-matrix", "/org/duty-matrix"),
             ("dashboard", "/dashboard"), ("hr", "/hr"), ("hr-scheme", "/hr/schemes/qa"),
             ("hr-run", run), ("hr-payslip", f"{run}/payslips/li.qa"),
             ("designer", "/designer"), ("designer-process", "/designer/processes/inbound_materials/1"),
             ("designer-modeler", "/designer/modeler"), ("incidents", "/incidents"),
             ("notifications", "/notifications")]
    return pages


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", LOCALES)
def test_every_page_fits_the_screen_and_is_photographed(new_page, lang, width):
    page = open_page(new_page, lang, width)
    page.goto("/sign-in")
    shot(page, f"page-sign-in-{lang}-{width}")
    if width == "phone":
        no_sideways_scroll(page)
    sign_in(page, "admin")
    for name, path in every_page(page):
        response = page.goto(path)
        assert response.ok, f"{path}: {response.status}"
        page.wait_for_load_state("networkidle")
        if lang == "zh":
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        if width == "phone":
            no_sideways_scroll(page)
        shot(page, f"page-{name}-{lang}-{width}")
