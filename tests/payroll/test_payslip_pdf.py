"""Payslip PDFs: the figures and Chinese names as a PDF reader extracts them, one PDF per
line in a run's ZIP, and who may download which; on SQLite and PostgreSQL."""
from __future__ import annotations

import io
import zipfile

import pytest
from pypdf import PdfReader
from sqlalchemy import update

from services.errors import Conflict, NotFound, PermissionDenied
from services.pay import payroll_runs, payslip_pdf
from services.persistence.models import Employee
from services.workflow import corrections
from tests.payroll.test_payroll_runs import (  # noqa: F401 (october is a fixture)
    actor, approve, finalized, october)
from web.notifications import catalogs


def text_of(pdf: bytes) -> str:
    """Every page's text. fpdf2 embeds a CFF font's codes with a CMap that pypdf reads as a
    NUL before each character (poppler's pdftotext reads the same file cleanly)."""
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text(extraction_mode="layout").replace("\x00", "")
                     for page in reader.pages)


def pdf_of(store, who, run_id, username):
    with store.reading() as uow:
        return payslip_pdf.payslip_pdf(uow, actor(store, who), run_id, username, "UTC",
                                       catalogs(), None)


@pytest.fixture
def paid(october):
    """October final; one of li.qa's inspections corrected afterwards; November final,
    paying the difference as an adjustment. li.qa reads Chinese."""
    store, hr, events = october
    with store.writing() as uow:
        uow.session.execute(update(Employee).where(Employee.username == "li.qa")
                            .values(locale="zh-CN"))
        uow.commit()
    october_run = finalized(store, hr, "2026-10")
    with store.writing() as uow:
        corrections.correct_event(uow, actor(store, "wang.qa"), events[1], {"result": "pass"},
                                  "sample re-tested: within tolerance")
    november_run = finalized(store, hr, "2026-11")
    return store, hr, october_run, november_run


def test_a_payslip_pdf_in_chinese_holds_the_figures_and_the_evidence(paid):
    store, _, october_run, november_run = paid
    filename, pdf = pdf_of(store, "zhao.hr", october_run, "li.qa")
    assert filename == "payslip-2026-10-li.qa.pdf" and pdf.startswith(b"%PDF")
    text = text_of(pdf)
    assert "工资条 · 李娜 (li.qa)" in text and "质量部" in text  # title, name, department
    # base 8,000.00; KPI 78.71 %; bonus 1,574.20; gross 9,574.20 (tests/payroll/test_payroll_runs)
    for figure in ("8,000.00", "2,000.00", "78.71%", "1,574.20", "9,574.20"):
        assert figure in text, figure
    # indicators: actual / target / score
    for figure in ("75.00%", "90.00%", "83.33%", "2.75", "72.73%"):
        assert figure in text, figure
    assert "基本工资" in text and "奖金" in text and "应发" in text and "依据 (4)" in text
    assert text.count("inspect_goods") >= 4  # the four inspections in the appendix
    assert "2026-10-06 13:00" in text

    _, november = pdf_of(store, "li.qa", november_run, "li.qa")  # her own
    later = text_of(november)
    # the correction makes October's bonus 1,852.00: 277.80 more, with its reason
    assert "277.80" in later and "re-tested" in later and "2026-10" in later


def test_a_chinese_payslip_pdfs_evidence_names_steps_and_departments_not_keys(paid):
    store, _, october_run, _ = paid
    appendix = text_of(pdf_of(store, "zhao.hr", october_run, "li.qa")[1]).split("依据 (4)")[1]
    assert appendix.count("检验来货 (inspect_goods)") == 4 and "Inspect goods" not in appendix
    assert appendix.count("质量部") == 4  # one per inspection; the key only in the header


def test_an_english_payslip_and_who_may_download_it(paid):
    store, _, october_run, _ = paid
    _, pdf = pdf_of(store, "qian.hr", october_run, "he.qa")
    text = text_of(pdf)
    assert "Payslip" in text and "何静" in text and "Base salary" in text and "8,000.00" in text
    assert "no applicable indicator" in text
    with pytest.raises(PermissionDenied):
        pdf_of(store, "li.qa", october_run, "he.qa")
    with pytest.raises(NotFound):
        pdf_of(store, "zhao.hr", october_run, "nobody")
    with store.writing() as uow:
        draft = payroll_runs.create_run(uow, actor(store, "zhao.hr"), "2026-12", "UTC").id
    with pytest.raises(Conflict, match="draft"):
        pdf_of(store, "zhao.hr", draft, "li.qa")


def test_the_zip_holds_one_pdf_per_payslip_line(paid):
    store, hr, october_run, _ = paid
    with pytest.raises(PermissionDenied):
        with store.reading() as uow:
            payslip_pdf.payslips_zip(uow, actor(store, "li.qa"), october_run, "UTC",
                                     catalogs(), None)
    with store.reading() as uow:
        filename, body = payslip_pdf.payslips_zip(uow, hr, october_run, "UTC", catalogs(), None)
        expected = [line.username for line in payroll_runs.lines(
            uow, payroll_runs.load_run(uow, october_run))]
    assert filename == f"payslips-2026-10-run{october_run}.zip"
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert sorted(archive.namelist()) == sorted(f"payslip-2026-10-{name}.pdf" for name in expected)
    assert "李娜" in text_of(archive.read("payslip-2026-10-li.qa.pdf"))
    assert "1,574.20" in text_of(archive.read("payslip-2026-10-li.qa.pdf"))
    assert "王芳" in text_of(archive.read("payslip-2026-10-wang.qa.pdf"))
