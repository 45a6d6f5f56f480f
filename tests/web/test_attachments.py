"""Files attached to completions: limits, storage once per content, access as the task's, and
nothing kept when the completion fails. Through the API and the task page, on SQLite and
PostgreSQL, with files on disk and in the database."""
from __future__ import annotations

import hashlib
import io
import json
import os
import time

import pytest
from PIL import Image
from sqlalchemy import func, select

from services.persistence.file_store import FileStore
from services.persistence.models import Attachment, FileBlob, TaskEvent
from services.settings import Settings
from tests.services.helpers import DELIVERY, PASS, deploy, import_demo_org, start
from tests.services.helpers import complete as complete_step
from tests.services.helpers import ready_task
from tests.web.sign_in_helpers import bearer, csrf_of, page_sign_in
from web.app import create_app


def jpeg(color=(200, 30, 30), size=(640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", quality=90)
    return out.getvalue()


def pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(params=["disk", "database"])
def files_mode(request) -> str:
    return request.param


@pytest.fixture
def app(store, tmp_path, files_mode):
    import_demo_org(store)
    deploy(store, "inbound_materials.bpmn")
    settings = Settings(store.database_url, secret_key="test", files_dir=str(tmp_path / "files"),
                        files_in_database=files_mode == "database", max_upload_mb=0.25,
                        max_request_mb=1)
    return create_app(settings, store=store)


@pytest.fixture
def inspection(app):
    """An inbound delivery registered, its QA inspection ready: the task's id."""
    store = app.extensions["dutyflow_store"]
    instance = start(store)
    complete_step(store, instance, "register_delivery", "zhang.proc", DELIVERY)
    return ready_task(store, instance, "inspect_goods").id


def complete(client, task_id, headers, data, *files, **extra):
    body = {"data": json.dumps(data)}
    body_files = [("photos", (io.BytesIO(content), name)) for name, content in files]
    return client.post(f"/api/v1/tasks/{task_id}/complete", headers={**headers, **extra},
                       data={**body, "photos": [part for _, part in body_files]}
                       if body_files else body, content_type="multipart/form-data")


def stored(app) -> tuple[int, int, list[str]]:
    """(blob rows, attachment rows, files on disk outside the temp area, temp files)."""
    store = app.extensions["dutyflow_store"]
    with store.reading() as uow:
        blobs = uow.session.scalar(select(func.count()).select_from(FileBlob))
        attached = uow.session.scalar(select(func.count()).select_from(Attachment))
    files: FileStore = app.extensions["dutyflow_files"]
    on_disk = sorted(path.name for path in files.directory.rglob("*") if path.is_file())
    return blobs, attached, on_disk


def test_a_photo_joins_the_completion_by_its_hash(app, inspection):
    client = app.test_client()
    qa = bearer(client, "li.qa")
    photo = jpeg()
    done = complete(client, inspection, qa, PASS, ("货单.jpg", photo), ("defect.jpg", jpeg((0, 0, 255))))
    assert done.status_code == 200, done.json
    digest = hashlib.sha256(photo).hexdigest()
    store = app.extensions["dutyflow_store"]
    with store.reading() as uow:
        event = uow.session.scalars(select(TaskEvent).where(TaskEvent.task_id == inspection)).one()
    first = event.data["photos"][0]
    assert first == {"sha256": digest, "name": "货单.jpg", "type": "image/jpeg", "size": len(photo)}
    assert len(event.data["photos"]) == 2
    got = client.get(f"/api/v1/tasks/{inspection}/files/{digest}", headers=qa)
    assert got.status_code == 200 and got.data == photo and got.mimetype == "image/jpeg"
    thumb = client.get(f"/api/v1/tasks/{inspection}/files/{digest}/thumbnail", headers=qa)
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.data)).size) == 320
    # The instance's process data holds the same references, for later steps to read.
    instance = client.get(f"/api/v1/process-instances/{event.process_instance_id}",
                          headers=bearer(client, "wang.qa")).json
    assert instance["data"]["photos"] == event.data["photos"]


def test_size_and_type_limits_are_field_errors(app, inspection):
    client = app.test_client()
    qa = bearer(client, "li.qa")
    noise = os.urandom(300 * 1024)  # over 0.25 MB
    big = complete(client, inspection, qa, PASS, ("big.jpg", b"\xff\xd8\xff" + noise))
    assert big.status_code == 422
    assert big.json["errors"] == {"photos": ["big.jpg: larger than 0.25 MB."]}
    # A program named like a photo is what its bytes are, not what its name says.
    renamed = complete(client, inspection, qa, PASS, ("photo.jpg", b"MZ\x90\x00" + b"\x00" * 200))
    assert renamed.status_code == 422
    assert "application/octet-stream, not an allowed type (image/*)" in \
        renamed.json["errors"]["photos"][0]
    scan = complete(client, inspection, qa, PASS, ("scan.jpg", pdf()))
    assert scan.status_code == 422 and "application/pdf" in scan.json["errors"]["photos"][0]
    bomb = io.BytesIO()
    Image.new("1", (11_000, 11_000)).save(bomb, "PNG")  # 121 MP in a few KB
    exploded = complete(client, inspection, qa, PASS, ("bomb.png", bomb.getvalue()))
    assert exploded.json["errors"] == {"photos": ["bomb.png: not a readable image."]}
    broken = complete(client, inspection, qa, PASS, ("cut.jpg", jpeg()[:300]))
    assert broken.status_code == 422
    assert broken.json["errors"] == {"photos": ["cut.jpg: not a readable image."]}
    # A request over DUTYFLOW_MAX_REQUEST_MB is refused whole, as a problem document.
    huge = complete(client, inspection, qa, PASS, *[(f"{n}.jpg", os.urandom(200 * 1024))
                                                     for n in range(6)])
    assert huge.status_code == 413 and huge.content_type == "application/problem+json"
    assert stored(app)[:2] == (0, 0)
    assert client.get(f"/api/v1/tasks/{inspection}", headers=qa).json["status"] == "ready"


def test_a_completion_cannot_cite_a_file_it_did_not_send(app, inspection):
    client = app.test_client()
    qa = bearer(client, "li.qa")
    forged = {"sha256": "0" * 64, "name": "x.jpg", "type": "image/jpeg", "size": 1}
    cited = client.post(f"/api/v1/tasks/{inspection}/complete", headers=qa,
                        json={"data": {**PASS, "photos": [forged]}})
    assert cited.status_code == 422 and "multipart" in cited.json["errors"]["photos"][0]
    stray = client.post(f"/api/v1/tasks/{inspection}/complete", headers=qa,
                        data={"data": json.dumps(PASS), "notes": (io.BytesIO(jpeg()), "a.jpg")},
                        content_type="multipart/form-data")
    assert stray.status_code == 422
    assert stray.json["errors"] == {"notes": ["Not a file field of this form."]}


def test_a_retried_completion_with_its_key_is_done_and_stored_once(app, inspection):
    client = app.test_client()
    qa = bearer(client, "li.qa")
    photo = jpeg()
    first = complete(client, inspection, qa, PASS, ("a.jpg", photo), **{"Idempotency-Key": "k"})
    again = complete(client, inspection, qa, PASS, ("a.jpg", photo), **{"Idempotency-Key": "k"})
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    other = complete(client, inspection, qa, PASS, ("a.jpg", jpeg((0, 0, 0))),
                     **{"Idempotency-Key": "k"})
    assert other.status_code == 422  # the same key for other content
    assert stored(app)[:2] == (1, 1)


def test_no_way_in_cites_a_file_by_hash(app, inspection):
    """The rule lives in the completion itself: the CLI and services keep it too."""
    from services.errors import InvalidInput
    from services.identity.access import actor_named
    from services.workflow import instances
    store = app.extensions["dutyflow_store"]
    forged = {"sha256": "0" * 64, "name": "x.jpg", "type": "image/jpeg", "size": 1}
    with store.writing() as uow, pytest.raises(InvalidInput) as refused:
        instances.complete_task(uow, actor_named(uow, "li.qa"), inspection,
                                {**PASS, "photos": [forged]})
    assert set(refused.value.errors) == {"photos"}


def test_a_failed_completion_stores_no_file(app, inspection):
    client = app.test_client()
    qa = bearer(client, "li.qa")
    # The form is refused after the files were read and staged: nothing of them remains.
    refused = complete(client, inspection, qa, {"result": "pass"}, ("a.jpg", jpeg()))
    assert refused.status_code == 422 and set(refused.json["errors"]) == {"defects"}
    assert stored(app) == (0, 0, [])
    # So is a completion that loses to a suspended instance (409).
    head = bearer(client, "wang.qa")
    instance_id = client.get(f"/api/v1/tasks/{inspection}", headers=qa).json["process_instance_id"]
    assert client.post(f"/api/v1/process-instances/{instance_id}/suspend", headers=head,
                       json={"reason": "stock count"}).status_code == 200
    assert complete(client, inspection, qa, PASS, ("a.jpg", jpeg())).status_code == 409
    assert stored(app) == (0, 0, [])


def test_identical_files_are_stored_once(app, inspection, files_mode):
    client = app.test_client()
    store = app.extensions["dutyflow_store"]
    photo = jpeg((10, 200, 10))
    qa = bearer(client, "li.qa")
    assert complete(client, inspection, qa, PASS, ("a.jpg", photo), ("again.jpg", photo)
                    ).status_code == 200
    second = start(store)
    complete_step(store, second, "register_delivery", "zhang.proc", DELIVERY)
    other = ready_task(store, second, "inspect_goods").id
    assert complete(client, other, bearer(client, "he.qa"), PASS, ("same.jpg", photo)
                    ).status_code == 200
    digest = hashlib.sha256(photo).hexdigest()
    blobs, attached, on_disk = stored(app)
    assert (blobs, attached) == (1, 2)  # one content; attached once per task
    assert on_disk == ([] if files_mode == "database" else [digest])
    for task_id, who in ((inspection, "li.qa"), (other, "he.qa")):
        got = client.get(f"/api/v1/tasks/{task_id}/files/{digest}", headers=bearer(client, who))
        assert got.data == photo


def test_another_departments_file_is_404(app, inspection):
    client = app.test_client()
    photo = jpeg()
    assert complete(client, inspection, bearer(client, "li.qa"), PASS, ("a.jpg", photo)
                    ).status_code == 200
    digest = hashlib.sha256(photo).hexdigest()
    path = f"/api/v1/tasks/{inspection}/files/{digest}"
    for outsider in ("guo.wh", "zhang.proc", "zhao.hr"):
        headers = bearer(client, outsider)
        assert client.get(path, headers=headers).status_code == 404, outsider
        assert client.get(path + "/thumbnail", headers=headers).status_code == 404, outsider
    for insider in ("he.qa", "wang.qa", "sun.prod", "admin"):  # department, heads above, admin
        assert client.get(path, headers=bearer(client, insider)).status_code == 200, insider
    # A file that exists but is not attached to this task: 404 as well.
    assert client.get(f"/api/v1/tasks/{inspection}/files/{'1' * 64}",
                      headers=bearer(client, "li.qa")).status_code == 404
    # The pages follow the same rule.
    page = app.test_client()
    page_sign_in(page, "guo.wh")
    assert page.get(f"/tasks/{inspection}/files/{digest}").status_code == 404
    page = app.test_client()
    page_sign_in(page, "wang.qa")
    assert page.get(f"/tasks/{inspection}/files/{digest}/thumbnail").status_code == 200


def test_the_task_page_takes_photos_and_the_history_shows_them(app, inspection):
    client = app.test_client()
    page_sign_in(client, "li.qa")
    form = client.get(f"/tasks/{inspection}").text
    assert 'enctype="multipart/form-data"' in form
    assert 'type="file" id="f-photos" name="photos" multiple' in form
    assert 'accept="image/*" capture="environment"' in form
    token = csrf_of(client, f"/tasks/{inspection}")
    too_big = client.post(f"/tasks/{inspection}", content_type="multipart/form-data", data={
        "csrf_token": token, "result": "pass", "defects": "0",
        "photos": (io.BytesIO(b"\xff\xd8\xff" + os.urandom(300 * 1024)), "big.jpg")})
    assert too_big.status_code == 422 and "big.jpg: larger than 0.25 MB." in too_big.text
    photo = jpeg()
    done = client.post(f"/tasks/{inspection}", content_type="multipart/form-data", data={
        "csrf_token": token, "result": "pass", "defects": "0",
        "photos": [(io.BytesIO(photo), "dock.jpg"), (io.BytesIO(b""), "")]})
    assert done.status_code == 302, done.text
    digest = hashlib.sha256(photo).hexdigest()
    store = app.extensions["dutyflow_store"]
    with store.reading() as uow:
        event = uow.session.scalars(select(TaskEvent).where(TaskEvent.task_id == inspection)).one()
    assert [ref["name"] for ref in event.data["photos"]] == ["dock.jpg"]
    head = app.test_client()
    page_sign_in(head, "wang.qa")
    history = head.get(f"/instances/{event.process_instance_id}").text
    assert f'/tasks/{inspection}/files/{digest}/thumbnail' in history
    starter = app.test_client()  # zhang.proc sees the instance, not QA's task: no link
    page_sign_in(starter, "zhang.proc")
    seen = starter.get(f"/instances/{event.process_instance_id}")
    assert seen.status_code == 200 and "dock.jpg" in seen.text
    assert f"/files/{digest}" not in seen.text


def test_the_sweep_finishes_interrupted_moves_and_drops_orphans(store, tmp_path):
    files = FileStore(tmp_path / "files")
    photo, orphan = jpeg(), jpeg((1, 2, 3))
    staging = files.staging()
    kept = staging.add(io.BytesIO(photo), 1 << 20)
    lost = staging.add(io.BytesIO(orphan), 1 << 20)
    with store.writing() as uow:
        staging.record(uow, [kept])
        uow.commit()  # the process "dies" here: nothing published, nothing discarded
    with store.reading() as uow:
        assert files.sweep(uow) == {"placed": 0, "deleted": 0}  # too young to touch
        assert files.sweep(uow, now=time.time() + 7200) == {"placed": 1, "deleted": 1}
    assert files.path_of(kept.sha256).read_bytes() == photo
    assert not files.path_of(lost.sha256).exists() and not list(files.temp_dir.iterdir())


def test_payslip_evidence_shows_the_files_and_corrections_leave_them(app, inspection):
    from services.identity.access import actor_named
    from services.pay import payroll_runs
    from services.persistence.models import utcnow
    client = app.test_client()
    photo = jpeg()
    assert complete(client, inspection, bearer(client, "li.qa"), PASS, ("dock.jpg", photo)
                    ).status_code == 200
    digest = hashlib.sha256(photo).hexdigest()
    store = app.extensions["dutyflow_store"]
    with store.writing() as uow:
        run_id = payroll_runs.create_run(uow, actor_named(uow, "zhao.hr"),
                                         utcnow().strftime("%Y-%m"), "UTC").id
    slip = f"/hr/payroll-runs/{run_id}/payslips/li.qa"
    own = app.test_client()
    page_sign_in(own, "li.qa")
    assert f"/tasks/{inspection}/files/{digest}/thumbnail" in own.get(slip).text
    hr = app.test_client()  # HR reads the evidence but may not see QA's task: the name only
    page_sign_in(hr, "zhao.hr")
    text = hr.get(slip).text
    assert "dock.jpg" in text and f"/files/{digest}" not in text
    with store.reading() as uow:
        event_id = uow.session.scalars(select(TaskEvent.id).where(
            TaskEvent.task_id == inspection)).one()
    head = bearer(client, "wang.qa")
    refused = client.post(f"/api/v1/events/{event_id}/corrections", headers=head,
                          json={"data": {"photos": []}, "reason": "wrong photo"})
    assert refused.status_code == 422 and set(refused.json["errors"]) == {"photos"}
    assert client.post(f"/api/v1/events/{event_id}/corrections", headers=head,
                       json={"data": {"defects": 1}, "reason": "recounted"}).status_code == 201
