"""Payslip PDFs over the pages and the API: an employee downloads their own (from their
payslips page and from the payslip-ready notification's link), HR the run's ZIP."""
from __future__ import annotations

import io
import zipfile

from sqlalchemy import select

from services.notify.messages import render
from services.pay import kpi, payroll_runs
from services.persistence.models import Notification
from services.persistence.statuses import NotificationKind
from tests.payroll.test_payroll_runs import actor
from tests.payroll.test_payslip_pdf import text_of
from tests.payroll.test_scoring import QA_SCHEME
from tests.web.test_api import sign_in
from tests.web.test_pages_dashboard_hr import Browser, app  # noqa: F401 (app is a fixture)
from web.notifications import catalogs


def final_october(store) -> int:
    hr = actor(store, "zhao.hr")
    with store.writing() as uow:
        kpi.set_scheme(uow, hr, "qa", QA_SCHEME)
    with store.writing() as uow:
        run_id = payroll_runs.create_run(uow, hr, "2026-10", "UTC").id
    with store.writing() as uow:
        payroll_runs.approve(uow, actor(store, "qian.hr"), run_id)
    with store.writing() as uow:
        payroll_runs.finalize(uow, hr, run_id)
    return run_id


def test_an_employee_downloads_their_own_payslip_pdf_from_their_page(app, store):
    run_id = final_october(store)
    li = Browser(app, "li.qa")
    page = li.get("/payslips").text
    pdf_url = f"/hr/payroll-runs/{run_id}/payslips/li.qa.pdf"
    assert f'href="{pdf_url}"' in page and "2026-10" in page and "9,574.20" in page
    assert f'id="payslip-pdf" href="{pdf_url}"' in li.get(
        f"/hr/payroll-runs/{run_id}/payslips/li.qa").text
    pdf = li.get(pdf_url)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert 'filename="payslip-2026-10-li.qa.pdf"' in pdf.headers["Content-Disposition"]
    assert "李娜" in text_of(pdf.data) and "1,574.20" in text_of(pdf.data)
    assert li.get(f"/hr/payroll-runs/{run_id}/payslips/he.qa.pdf").status_code == 403
    assert li.get(f"/hr/payroll-runs/{run_id}/payslips.zip").status_code == 403
    assert Browser(app, "he.qa").get("/payslips").text.count("payslip-pdf") == 1

    # the payslip-ready notification links to the page and to the PDF
    with store.reading() as uow:
        note = uow.session.scalars(select(Notification).where(
            Notification.recipient == "li.qa",
            Notification.kind == NotificationKind.PAYSLIP_READY)).one()
        message = render(note.kind, note.payload, catalogs().gettext("zh-CN"),
                         "http://dutyflow.test")
    assert f"http://dutyflow.test{pdf_url}" in message.text
    assert message.url == f"http://dutyflow.test/hr/payroll-runs/{run_id}/payslips/li.qa"


def test_payslip_pdfs_over_the_api(app, store):
    run_id = final_october(store)
    client = app.test_client()
    staff, hr = sign_in(client, "li.qa"), sign_in(client, "zhao.hr")
    own = client.get(f"/api/v1/payroll-runs/{run_id}/payslips/li.qa.pdf", headers=staff)
    assert own.status_code == 200 and own.data.startswith(b"%PDF")
    assert client.get(f"/api/v1/payroll-runs/{run_id}/payslips/he.qa.pdf",
                      headers=staff).status_code == 403
    assert client.get(f"/api/v1/payroll-runs/{run_id}/payslips.zip",
                      headers=staff).status_code == 403
    assert client.get(f"/api/v1/payroll-runs/{run_id}/payslips/nobody.pdf",
                      headers=hr).status_code == 404
    archive = client.get(f"/api/v1/payroll-runs/{run_id}/payslips.zip", headers=hr)
    assert archive.status_code == 200 and archive.mimetype == "application/zip"
    lines = client.get(f"/api/v1/payroll-runs/{run_id}", headers=hr).json["lines"]
    names = zipfile.ZipFile(io.BytesIO(archive.data)).namelist()
    assert sorted(names) == sorted(f"payslip-2026-10-{line['username']}.pdf" for line in lines)
    draft = client.post("/api/v1/payroll-runs", headers=hr, json={"period": "2026-11"}).json["id"]
    refused = client.get(f"/api/v1/payroll-runs/{draft}/payslips/li.qa.pdf", headers=hr)
    assert refused.status_code == 409 and "draft" in refused.json["detail"]


def test_a_missing_font_is_a_clear_503(app, store, monkeypatch):
    from services.pay import pdf_font
    run_id = final_october(store)
    monkeypatch.setattr(pdf_font, "FONT_FILES", ())
    client = app.test_client()
    answer = client.get(f"/api/v1/payroll-runs/{run_id}/payslips/li.qa.pdf",
                        headers=sign_in(client, "li.qa"))
    assert answer.status_code == 503 and "fonts-noto-cjk" in answer.json["detail"]
