"""Notifications name the task, the process and the department in the reader's language:
the diagram's `i18n:zh-CN` labels and the department's own name for a Chinese reader, the
drawn names for an English one, whichever use case told them and wherever they are read
(e-mail, the in-app list over the API and the page)."""
from __future__ import annotations

from sqlalchemy import select

from services.identity.access import actor_named
from services.notify import events
from services.notify.labels import process_translations
from services.notify.messages import render
from services.persistence.models import Notification, Task, utcnow
from services.persistence.statuses import NotificationKind
from services.persistence.unit_of_work import Store
from services.settings import Settings
from services.workflow import instances, tasks
from tests.notify.support import demo_org, import_org, opt_in
from tests.services.helpers import DELIVERY, PASS, complete, deploy, start
from tests.web.sign_in_helpers import page_sign_in
from tests.web.test_api import sign_in
from web.app import create_app
from web.notifications import catalogs

PROCESS_ZH = "来料入库：到货、检验、入库"  # inbound_materials' i18n:zh-CN


def setup_org(store) -> None:
    import_org(store, demo_org(**{"li.qa": {"locale": "zh-CN"}, "he.qa": {"locale": "en"}}))
    deploy(store)


def told(store, kind: str, recipient: str) -> Notification:
    with store.reading() as uow:
        return uow.session.scalars(select(Notification).where(
            Notification.kind == kind, Notification.recipient == recipient)
            .order_by(Notification.id.desc())).first()


def in_language(note: Notification, locale: str):
    return render(note.kind, note.payload, catalogs().gettext(locale), "https://duty.example",
                  locale)


def test_a_new_task_reads_in_chinese_for_a_chinese_reader_and_as_drawn_for_an_english_one(store):
    setup_org(store)
    opt_in(store, "li.qa")
    opt_in(store, "he.qa")
    instance_id = start(store)
    complete(store, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    chinese = in_language(told(store, NotificationKind.TASK_READY, "li.qa"), "zh-CN")
    assert chinese.title == "新任务：检验来货"
    assert chinese.body == f"质量部 有一项新任务待办：检验来货（{PROCESS_ZH} #{instance_id}）。"
    english = in_language(told(store, NotificationKind.TASK_READY, "he.qa"), "en")
    assert english.title == "New task: Inspect goods"
    assert english.body == f"Inspect goods (inbound_materials #{instance_id}) is ready for 质量部."


def test_a_reminder_told_by_a_worker_that_never_compiled_the_process_is_translated_too(store):
    """The follow-up worker's Store has no compiled model: the labels come from the XML."""
    setup_org(store)
    instance_id = start(store)
    complete(store, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    complete(store, instance_id, "inspect_goods", "li.qa", PASS)
    worker = Store(store.database_url)  # a fresh process: nothing cached
    try:
        with worker.writing() as uow:
            assert uow.models.get(("any", "inbound_materials")) is None
            intake = uow.session.scalars(select(Task).where(
                Task.process_instance_id == instance_id,
                Task.element_id == "warehouse_intake")).one()
            events.task_reminder(uow, intake, utcnow())
            uow.commit()
        with worker.reading() as uow:
            assert process_translations(uow, instance_id)["warehouse_intake"] == \
                {"zh-cn": "仓库入库"}
    finally:
        worker.dispose()
    note = told(store, NotificationKind.TASK_REMINDER, "guo.wh")
    assert in_language(note, "zh-CN").body == \
        f"仓储部 的任务 仓库入库（{PROCESS_ZH} #{instance_id}）尚未完成。"
    assert in_language(note, "en").body == \
        f"Warehouse intake (inbound_materials #{instance_id}) of Warehouse is still open."


def test_an_assignment_and_an_instance_end_name_the_process_in_the_readers_language(store):
    setup_org(store)
    with store.writing() as uow:
        instance_id = instances.start_process(uow, "inbound_materials", None, "li.qa").id
    complete(store, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    with store.writing() as uow:
        inspection = uow.session.scalars(select(Task.id).where(
            Task.process_instance_id == instance_id, Task.element_id == "inspect_goods")).one()
        tasks.assign(uow, actor_named(uow, "wang.qa"), inspection, "he.qa")
    assigned = told(store, NotificationKind.TASK_ASSIGNED, "he.qa")
    assert in_language(assigned, "zh-CN").title == "任务已分派给您：检验来货"
    assert in_language(assigned, "en").title == "Task assigned to you: Inspect goods"
    complete(store, instance_id, "inspect_goods", "he.qa", PASS)
    complete(store, instance_id, "warehouse_intake", "guo.wh",
             {"storage_location": "A-1", "received_quantity": 10})
    finished = told(store, NotificationKind.INSTANCE_FINISHED, "li.qa")
    assert in_language(finished, "zh-CN").title == f"已完成：{PROCESS_ZH} #{instance_id}"
    assert in_language(finished, "en").title == f"Finished: inbound_materials #{instance_id}"


def test_notifications_stored_before_they_carried_labels_read_as_they_did(store):
    payload = {"task": {"id": "t", "name": "Inspect goods", "process_key": "inbound_materials",
                        "process_instance_id": 7, "department": "qa",
                        "department_name": "质量部", "due_at": None}}
    message = render(NotificationKind.TASK_READY, payload, catalogs().gettext("en"), "", "en")
    assert message.body == "Inspect goods (inbound_materials #7) is ready for 质量部."


def test_a_task_of_no_department_reads_as_its_lane_in_either_language():
    """services.org.department_names, as on the pages: never 'None' for a reader of Chinese."""
    payload = {"task": {"id": "t", "name": "Inspect goods", "process_key": "inbound_materials",
                        "process_instance_id": 7, "department": None, "department_name": None,
                        "lane": "Quality", "due_at": None}}
    for locale in ("zh-CN", "en"):
        body = render(NotificationKind.TASK_READY, payload, catalogs().gettext(locale), "",
                      locale).body
        assert "Quality" in body and "None" not in body


def test_the_in_app_list_reads_in_the_readers_language_over_the_api_and_on_the_page(store):
    setup_org(store)
    opt_in(store, "li.qa")
    opt_in(store, "he.qa")
    instance_id = start(store)
    complete(store, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    client = create_app(Settings(store.database_url, secret_key="test"), store=store).test_client()
    [chinese] = client.get("/api/v1/notifications",
                           headers=sign_in(client, "li.qa")).json["notifications"]
    assert (chinese["title"], PROCESS_ZH in chinese["text"]) == ("新任务：检验来货", True)
    [english] = client.get("/api/v1/notifications",
                           headers=sign_in(client, "he.qa")).json["notifications"]
    assert english["title"] == "New task: Inspect goods"
    assert page_sign_in(client, "he.qa").status_code == 302
    # The page names things in the page's language, whatever the account's locale.
    english_page = client.get("/notifications", headers={"Accept-Language": "en"}).text
    assert "Inspect goods" in english_page and "检验来货" not in english_page
    chinese_page = client.get("/notifications", headers={"Accept-Language": "zh-CN"}).text
    assert "检验来货" in chinese_page and PROCESS_ZH in chinese_page
