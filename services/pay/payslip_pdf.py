"""Payslips of a final run as PDF, one per employee, and all of a run's in a ZIP.

Each in the employee's language (their `locale`: en or zh-CN), from the same figures as the
payslip page and API (services.pay.payslips.payslip): base salary, bonus base, KPI score,
each indicator with its actual, target and score, bonus, adjustments with their reasons,
gross; the completions behind the figures as an appendix. Chinese text is set in the CJK
font of the installation (services.pay.pdf_font), embedded as a subset, so any reader
shows it.
"""
from __future__ import annotations

import datetime as dt
import io
import tempfile
import zipfile
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.fonts import FontFace
from sqlalchemy import select

from services.errors import Conflict
from services.identity.actor import Actor
from services.notify.messages import N_, Catalogs, Gettext
from services.pay import payslips
from services.pay.payroll_runs import lines, load_run
from services.pay.pdf_font import font_file, subset_for
from services.persistence.models import Employee, PayrollRun
from services.persistence.statuses import RunStatus
from services.persistence.unit_of_work import UnitOfWork
from services.workflow.labels import Labels, labels_for

METRICS = {"completed_count": N_("Completed count"), "on_time_rate": N_("On-time rate"),
           "field_rate": N_("Field value rate"),
           "avg_handling_hours": N_("Average handling hours"),
           "completion_rate": N_("Completion rate"),
           "escalation_free_rate": N_("Escalation-free rate")}
FLAGS = {"no_scheme": N_("no KPI scheme for the department"),
         "no_applicable_indicator": N_("no applicable indicator"),
         "adjustments_only": N_("no longer employed: adjustments only")}
PARAMETERS = ("task", "process_key", "field", "value")
HEADING = FontFace(fill_color=(232, 236, 241))


@dataclass
class Table:
    headings: list[str]
    rows: list[list[str]]
    widths: tuple[int, ...]
    align: tuple[str, ...]


@dataclass
class Document:
    """What one payslip says, already in its reader's language; rendered by `render`."""

    filename: str
    language: str
    title: str
    lines: list[str]
    sections: list[tuple[str, Table | str]] = field(default_factory=list)
    appendix: list[tuple[str, Table | str]] = field(default_factory=list)

    def text(self) -> str:
        parts = [self.title, *self.lines]
        for heading, body in self.sections + self.appendix:
            parts.append(heading)
            if isinstance(body, Table):
                parts += body.headings + [cell for row in body.rows for cell in row]
            else:
                parts.append(body)
        return "".join(parts)


def payslip_pdf(uow: UnitOfWork, actor: Actor, run_id: int, username: str, timezone: str,
                catalogs: Catalogs, configured_font: str | None) -> tuple[str, bytes]:
    """(file name, PDF) of one employee's payslip of a final run: for HR, admins and the
    employee themself (payslips.payslip checks who asks)."""
    run = _final(uow, run_id)
    slip = payslips.payslip(uow, actor, run.id, username, timezone)
    document = _documents(uow, run, [slip], timezone, catalogs)[0]
    font = subset_for(font_file(configured_font), document.text())
    return document.filename, render(document, font)


def payslips_zip(uow: UnitOfWork, actor: Actor, run_id: int, timezone: str, catalogs: Catalogs,
                 configured_font: str | None) -> tuple[str, bytes]:
    """(file name, ZIP) holding one PDF per line of a final run (HR and admins)."""
    actor.require("hr", "admin")
    run = _final(uow, run_id)
    slips = [payslips.payslip(uow, actor, run.id, line.username, timezone)
             for line in lines(uow, run)]
    documents = _documents(uow, run, slips, timezone, catalogs)
    font = subset_for(font_file(configured_font), "".join(d.text() for d in documents))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for document in documents:
            archive.writestr(document.filename, render(document, font))
    return f"payslips-{run.period}-run{run.id}.zip", buffer.getvalue()


def _final(uow: UnitOfWork, run_id: int) -> PayrollRun:
    run = load_run(uow, run_id)
    if run.status != RunStatus.FINAL:
        raise Conflict(f"payroll run {run_id} is a draft: payslip PDFs are made of final runs")
    return run


def _documents(uow: UnitOfWork, run: PayrollRun, slips: list[dict[str, Any]], timezone: str,
               catalogs: Catalogs) -> list[Document]:
    usernames = [slip["line"]["username"] for slip in slips]
    people = {row.username: row for row in uow.session.execute(
        select(Employee.username, Employee.name, Employee.locale)
        .where(Employee.username.in_(usernames)))}
    labels = labels_for(uow, None, {item["process_instance_id"] for slip in slips
                                    for item in slip["evidence"]}, all_processes=False)
    out = []
    for slip in slips:
        person = people.get(slip["line"]["username"])
        locale = (person.locale if person else None) or "en"
        out.append(compose(slip, person.name if person else "", replace(labels, locale=locale),
                           catalogs.gettext(locale), timezone))
    return out


def compose(slip: dict[str, Any], name: str, labels: Labels, _: Gettext,
            timezone: str) -> Document:
    """The payslip's content in the language of `_` (a gettext); `labels` (in the same
    language) name the departments and the evidence's steps as the pages do."""
    line, run = slip["line"], slip["run"]
    username = line["username"]
    department = line["department"]
    locale = labels.locale
    scheme = (f" · {_('KPI scheme version %(version)s') % {'version': line['scheme_version']}}"
              if line["scheme_version"] else "")
    document = Document(
        filename=f"payslip-{run['period']}-{username}.pdf", language=locale,
        title=f"{_('Payslip')} · {name or username} ({username})",
        lines=[f"{_('Period')} {run['period']} · {_('run')} #{run['id']} · {_('final')}",
               f"{_('Department')}: {labels.department_names.get(department, department)} "
               f"({department}){scheme}"])
    pay = [(_("Base salary"), _money(line["base_salary"])),
           (_("Bonus base"), _money(slip["bonus_base"])),
           (_("KPI score"), _percent(line["kpi_score"])),
           (_("Bonus"), _money(line["bonus"])),
           (_("Adjustments"), _money(line["adjustments"])),
           (_("Gross"), _money(line["gross"]))]
    document.sections.append((_("Pay"), Table([_("Pay"), _("Amount")],
                                              [list(item) for item in pay], (110, 70),
                                              ("LEFT", "RIGHT"))))
    if line["flags"]:
        document.sections.append(("", " · ".join(_(FLAGS[flag]) if flag in FLAGS else flag
                                                 for flag in line["flags"])))
    document.sections.append((_("Indicators"), _indicators(slip["indicators"], _)))
    document.sections.append((_("Adjustments"), _adjustments(slip["adjustments"], _)))
    evidence = slip["evidence"]
    document.appendix.append((f"{_('Evidence')} ({len(evidence)})",
                              _evidence(evidence, labels, _, timezone) if evidence else
                              _("No completions for the department in this period.")))
    return document


def _indicators(indicators: list[dict[str, Any]], _: Gettext) -> Table | str:
    if not indicators:
        return _("No indicators: the department had no KPI scheme.")
    rows = []
    for item in indicators:
        label = _(METRICS.get(item["metric"], item["metric"]))
        params = " ".join(f"{name}={item[name]}" for name in PARAMETERS if name in item)
        rows.append([f"{label} {params}".strip(), f"{Decimal(item['weight']).normalize():f} %",
                     _value(item["metric"], item["actual"], _),
                     _value(item["metric"], item["target"], _),
                     _percent(item["score"]) if item["score"] is not None else "—",
                     _("yes") if item["applicable"] else _("not applicable")])
    return Table([_("Indicator"), _("Weight"), _("Actual"), _("Target"), _("Score"),
                  _("Applicable")], rows, (62, 18, 26, 26, 22, 26),
                 ("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "LEFT"))


def _adjustments(adjustments: list[dict[str, Any]], _: Gettext) -> Table | str:
    if not adjustments:
        return _("No adjustments.")
    return Table([_("For period"), _("Amount"), _("Reason")],
                 [[item["source_period"], _money(item["amount"]), item["reason"]]
                  for item in adjustments], (25, 30, 125), ("LEFT", "RIGHT", "LEFT"))


def _evidence(evidence: list[dict[str, Any]], labels: Labels, _: Gettext,
              timezone: str) -> Table:
    zone = ZoneInfo(timezone)
    rows = []
    for item in evidence:
        on_time = (_("not applicable") if item["on_time"] is None
                   else _("yes") if item["on_time"] else _("no, late"))
        values = ", ".join(f"{key}={value}" for key, value in sorted(item["data"].items()))
        rows.append([f"{item['process_key']} #{item['process_instance_id']}",
                     f"{labels.element(item['process_instance_id'], item['task'], item['name'])}"
                     f" ({item['task']})", labels.department(item["department"]) or "—",
                     _when(item["completed_at"], zone),
                     _when(item["due_at"], zone) or _("no deadline"), on_time,
                     values + (f" ({_('corrected')})" if item["corrected"] else "")])
    return Table([_("Instance"), _("Task"), _("Department"), _("Completed"), _("Due"),
                  _("On time?"), _("Field values")], rows, (27, 36, 18, 27, 27, 16, 29),
                 ("LEFT",) * 7)


def render(document: Document, font: bytes) -> bytes:
    """The document as PDF with `font` (an OpenType file holding its characters) embedded."""
    with tempfile.NamedTemporaryFile(suffix=".otf") as font_path:
        font_path.write(font)
        font_path.flush()
        pdf = FPDF(format="A4")
        pdf.set_margins(15, 15, 15)
        pdf.set_auto_page_break(True, margin=15)
        pdf.add_font("payslip", "", font_path.name)
        pdf.set_title(document.title)
        pdf.set_creator("DutyFlow")
        pdf.set_lang(document.language)
        pdf.add_page()
        pdf.set_font("payslip", size=15)
        pdf.multi_cell(0, 8, document.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("payslip", size=10)
        for text in document.lines:
            pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
        _sections(pdf, document.sections)
        if document.appendix:
            pdf.add_page()
            _sections(pdf, document.appendix, size=7)
        return bytes(pdf.output())


def _sections(pdf: FPDF, sections: list[tuple[str, Table | str]], size: int = 9) -> None:
    for heading, body in sections:
        if heading:
            pdf.ln(3)
            pdf.set_font("payslip", size=12)
            pdf.multi_cell(0, 7, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("payslip", size=size)
        if isinstance(body, str):
            pdf.multi_cell(0, 5, body, new_x="LMARGIN", new_y="NEXT")
            continue
        with pdf.table(col_widths=body.widths, text_align=body.align, headings_style=HEADING,
                       line_height=size * 0.55, width=sum(body.widths)) as table:
            table.row(body.headings)
            for row in body.rows:
                table.row(row)


def _money(value: str | Decimal) -> str:
    return f"{Decimal(value):,.2f}"


def _percent(value: str | Decimal) -> str:
    return f"{Decimal(value) * 100:.2f}%"


def _value(metric: str, value: str | None, _: Gettext) -> str:
    if value is None:
        return _("not applicable")
    number = Decimal(value)
    if metric == "completed_count":
        return f"{number.normalize():f}"
    if metric == "avg_handling_hours":
        return _("%(hours)s h") % {"hours": f"{number.quantize(Decimal('0.01'))}"}
    return _percent(number)


def _when(value: str | None, zone: ZoneInfo) -> str:
    if not value:
        return ""
    return dt.datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M")

