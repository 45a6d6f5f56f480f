"""A staff member on a phone follows the link in the email DutyFlow sent them (through a
real SMTP server, aiosmtpd) and completes the task; the bell counts it meanwhile."""
from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
import yaml
from playwright.sync_api import expect

from tests.conftest import BPMN_DIR, ROOT
from tests.e2e.conftest import demo_server, shot, sign_in
from tests.e2e.test_notifications_flow import opt_in_to_department_tasks, register_a_delivery
from tests.e2e.test_staff_flow import submit
from tests.notify.receivers import SmtpReceiver
from tests.serving import free_port

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3,
         "is_mobile": True, "has_touch": True}
ADDRESS = "li.na@example.com"


@pytest.fixture(scope="module")
def smtp():
    receiver = SmtpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, smtp):
    """The demo with mail going to the SMTP server above and links under its own address;
    li.qa's email address added by an org re-import, as an operator would."""
    directory = tmp_path_factory.mktemp("e2e-phone")
    port = free_port()
    with demo_server(directory, port, DUTYFLOW_SMTP_URL=smtp.url,
                     DUTYFLOW_BASE_URL=f"http://127.0.0.1:{port}") as (base, database_url):
        document = yaml.safe_load((BPMN_DIR / "demo_org.yaml").read_text("utf-8"))
        for employee in document["employees"]:
            if employee["username"] == "li.qa":
                employee["email"] = ADDRESS
        org = directory / "org.yaml"
        org.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
        subprocess.run([sys.executable, "-m", "web.cli", "org", "import", str(org)], cwd=ROOT,
                       env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
                       check=True, capture_output=True)
        yield base


def mail_to(smtp: SmtpReceiver, address: str, subject: str, seconds: float = 60):
    """The first message to `address` whose subject is `subject`, waiting for the worker."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for recipients, message in list(smtp.messages):
            if address in recipients and message["Subject"] == subject:
                return message
        time.sleep(0.2)
    pytest.fail(f"no mail {subject!r} to {address}; got {[m['Subject'] for _, m in smtp.messages]}")


def test_an_inspector_on_a_phone_follows_the_emailed_link_and_completes_the_task(
        new_page, server, smtp):
    phone = new_page(**PHONE)
    sign_in(phone, "li.qa")
    before = int(phone.locator("#unread-count").inner_text())  # the demo's own news
    opt_in_to_department_tasks(phone)
    phone.get_by_role("button", name="Sign out").click()
    buyer = new_page()
    sign_in(buyer, "zhang.proc")
    register_a_delivery(buyer)

    message = mail_to(smtp, ADDRESS, "New task: Inspect goods")
    body = message.get_content()
    link = re.search(r"Open in DutyFlow: (\S+)", body).group(1)
    assert link.startswith(f"{server}/tasks/") and message["X-DutyFlow-Event"] == "task_ready"

    phone.goto(link)  # signed out: the sign-in page, then straight on to the task
    phone.get_by_label("Username").fill("li.qa")
    phone.get_by_label("Password").fill("demo")
    phone.locator("form button[type=submit]").last.click()
    phone.wait_for_url(link)
    expect(phone.get_by_role("heading", level=1)).to_have_text("Inspect goods")
    expect(phone.locator("#unread-count")).to_have_text(str(before + 1))  # and in the bell
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the task page is {width}px wide on a 390px phone"
    shot(phone, "phone-task-from-email")
    phone.get_by_label("Inspection result").select_option("pass")
    phone.get_by_label("Number of defects").fill("0")
    submit(phone)
    expect(phone.locator(".flash")).to_contain_text("Inspect goods")
    task_path = link[len(server):]
    expect(phone.locator(f'a[href="{task_path}"]')).to_have_count(0)  # inbox: this one is done
    shot(phone, "phone-task-completed")
    phone.locator("#bell").click()
    expect(phone.locator(".notifications li.unread")).to_have_count(before + 1)
    phone.get_by_role("button", name="Mark all as read").click()
    expect(phone.locator("#unread-count")).to_have_text("0")
    shot(phone, "phone-notifications")
