"""On Chinese pages a refusal reads in Chinese through to its details: the services word
their refusals as templates with values (services.errors), the pages translate them and
the form fields' errors; the API keeps its English problem documents."""
from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import pytest
from babel.support import Translations

from services.errors import Conflict, InvalidInput
from services.identity.access import actor_named
from services.org import absences
from services.pay import payroll_runs
from services.settings import Settings
from services.workflow import tasks
from tests.services.helpers import DELIVERY, complete, deploy, import_demo_org, ready_task, start
from tests.web.sign_in_helpers import csrf_of, page_sign_in
from tests.web.test_api import sign_in
from web.app import create_app
from web.pages.field_messages import field_message

CHINESE = {"Accept-Language": "zh-CN"}
chinese = Translations.load(Path(__file__).resolve().parents[2] / "web" / "translations",
                            ["zh"]).gettext
SOON = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
LATER = SOON + dt.timedelta(days=3)


@pytest.fixture
def client(store):
    import_demo_org(store)
    deploy(store)
    return create_app(Settings(store.database_url, secret_key="test"), store=store).test_client()


def inspection(store, held_by: str | None = None) -> str:
    instance_id = start(store)
    complete(store, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    task_id = ready_task(store, instance_id, "inspect_goods").id
    if held_by:
        with store.writing() as uow:
            tasks.claim(uow, actor_named(uow, held_by), task_id)
    return task_id


def post_task(client, task_id: str, data: dict, headers: dict):
    token = csrf_of(client, f"/tasks/{task_id}")
    response = client.post(f"/tasks/{task_id}", data={**data, "csrf_token": token},
                           headers=headers)
    return response.status_code, html.unescape(response.get_data(as_text=True))


def test_a_task_held_by_someone_else_is_refused_in_chinese_to_the_detail(client, store):
    held = inspection(store, held_by="he.qa")
    assert page_sign_in(client, "li.qa").status_code == 302
    status, page = post_task(client, held, {"result": "pass", "defects": "0"}, CHINESE)
    assert status == 409
    assert f"任务 {held} 已被 he.qa 认领" in page
    assert "is claimed by" not in page
    # The same refusal over the API stays an English problem document.
    answer = client.post(f"/api/v1/tasks/{held}/complete", headers=sign_in(client, "li.qa"),
                         json={"data": {"result": "pass", "defects": 0}})
    assert answer.status_code == 409
    assert answer.json["detail"] == f"task {held} is claimed by he.qa"


def test_form_field_errors_read_in_chinese_on_chinese_pages_and_in_english_otherwise(client,
                                                                                      store):
    task_id = inspection(store)
    assert page_sign_in(client, "li.qa").status_code == 302
    status, page = post_task(client, task_id, {"defects": "many"}, CHINESE)
    assert status == 422
    assert "此项必填。" in page and "不是有效的整数。" in page
    assert "Missing data for required field." not in page and "Not a valid integer." not in page
    status, page = post_task(client, task_id, {"result": "maybe", "defects": "1"}, CHINESE)
    assert status == 422 and "必须是以下之一：pass, fail。" in page
    status, page = post_task(client, task_id, {"defects": "many"}, {"Accept-Language": "en"})
    assert status == 422 and "Missing data for required field." in page
    # The API answers the same data with marshmallow's English field errors.
    answer = client.post(f"/api/v1/tasks/{task_id}/complete", headers=sign_in(client, "li.qa"),
                         json={"data": {"defects": "many"}})
    assert answer.status_code == 422
    assert answer.json["errors"]["result"] == ["Missing data for required field."]


def test_a_refusal_keeps_its_english_detail_and_translates_with_its_values():
    refusal = Conflict(text="task %(task)s is held by %(holder)s",
                       params={"task": "t-1", "holder": "he.qa"})
    assert str(refusal) == "task t-1 is held by he.qa"
    assert refusal.in_language(lambda text: text.replace("is held by", "由")) == "task t-1 由 he.qa"
    assert Conflict("worded once").in_language(lambda text: "never asked") == "worded once"


def test_field_messages_with_values_keep_their_values_in_the_translation():
    chinese = {"%(name)s: larger than %(mb)s MB.": "%(name)s：大于 %(mb)s MB。",
               "Must be greater than or equal to %(min)s and less than or equal to %(max)s.":
               "必须大于或等于 %(min)s 且小于或等于 %(max)s。"}.get
    assert field_message("送货单.jpg: larger than 20 MB.", lambda t: chinese(t) or t) == \
        "送货单.jpg：大于 20 MB。"
    assert field_message("Must be greater than or equal to 0 and less than or equal to 9.",
                         lambda t: chinese(t) or t) == "必须大于或等于 0 且小于或等于 9。"
    assert field_message("Something no check words so.", lambda t: "never") == \
        "Something no check words so."


def test_hr_and_absence_refusals_read_in_chinese_to_the_detail(client, store):
    """Four eyes on a Chinese payroll page, and a substitute from another department."""
    with store.writing() as uow:
        run = payroll_runs.create_run(uow, actor_named(uow, "zhao.hr"), "2026-01", "UTC")
        run_id = run.id
    assert page_sign_in(client, "zhao.hr").status_code == 302
    token = csrf_of(client, f"/hr/payroll-runs/{run_id}")
    client.post(f"/hr/payroll-runs/{run_id}/approve", data={"csrf_token": token},
                headers=CHINESE)
    page = html.unescape(client.get(f"/hr/payroll-runs/{run_id}", headers=CHINESE)
                         .get_data(as_text=True))
    assert f"薪资核算 {run_id} 由您编制：须由另一位人力资源人员审批或驳回" in page
    assert "another HR user must" not in page
    with store.writing() as uow, pytest.raises(InvalidInput) as refused:
        absences.set_absence(uow, actor_named(uow, "li.qa"), "li.qa", SOON, LATER, "guo.wh")
    assert refused.value.in_language(chinese) == \
        "guo.wh 属于 warehouse，而不是与 li.qa 相同的 qa"
    assert str(refused.value) == "guo.wh belongs to warehouse, not to qa like li.qa"
