"""A real `dutyflow serve --demo` process and Debian's Chromium driven by Playwright.

Screenshots of every page visited are saved under artifacts/screenshots/ (CI keeps
them as artifacts). Chromium comes from Debian (`/usr/bin/chromium`): Playwright's
own browser download is not used.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.conftest import ROOT
from tests.serving import free_port, wait_until_healthy

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def demo_server(directory: Path, port: int | None = None, **env: str):
    """`dutyflow serve --demo` on a fresh SQLite database in `directory`, with `env` added;
    yields (its base URL, its DATABASE_URL)."""
    port = port or free_port()
    database_url = f"sqlite:///{directory / 'dutyflow.db'}"
    env = dict(os.environ, DATABASE_URL=database_url,
               DUTYFLOW_SECRET_KEY="e2e-secret-key-not-for-production",
               DUTYFLOW_FILES_DIR=str(directory / "files"), **env)
    process = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--demo", "--port",
                                str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base, seconds=90)
        # It logs a line per request: drain the pipe, or once it is full the server blocks
        # on its next log line and every page hangs.
        threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
        yield base, database_url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A fresh demo deployment per test module (SQLite, as `make demo` runs it)."""
    with demo_server(tmp_path_factory.mktemp("e2e")) as (base, _database_url):
        yield base


def _drain(stream) -> None:
    for _ in stream:
        pass


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for end-to-end tests (make test installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, server):
    """Pages for several people at once, each in its own browser context (own cookies).

    Anything the Content-Security-Policy blocks fails the test: a blocked script or style
    is a broken page for whoever uses it."""
    contexts, blocked = [], []

    def make(locale: str = "en-US", **options) -> Page:
        context = browser.new_context(base_url=server, locale=locale,
                                      viewport=options.pop("viewport", {"width": 1280, "height": 900}),
                                      **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: blocked.append(f"{page.url}: {message.text}")
                if "Content Security Policy" in message.text else None)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not blocked, "blocked by the Content-Security-Policy:\n" + "\n".join(blocked)


def sign_in(page: Page, username: str, password: str = "demo") -> None:
    page.goto("/sign-in")
    page.get_by_label(re.compile("Username|用户名")).fill(username)
    page.get_by_label(re.compile("Password|密码")).fill(password)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/inbox"))


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
