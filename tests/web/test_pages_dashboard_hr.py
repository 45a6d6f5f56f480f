"""Dashboard and HR pages through Flask's test client, on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from html import unescape

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from services.errors import PermissionDenied
from services.identity.access import actor_named
from services.pay import kpi
from services.persistence.models import KpiScheme
from services.reporting import dashboard
from services.settings import Settings
from services.workflow import instances
from tests.payroll.test_payroll_runs import actor, at, inspect
from tests.payroll.test_scoring import QA_SCHEME
from tests.services.helpers import deploy, import_demo_org, ready_task
from web.app import create_app

UTC = dt.timezone.utc
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(store):
    """The demo org; li.qa's October (4 inspections, 3 passed, 3 on time) and one
    inspection left waiting past its deadline."""
    import_demo_org(store)
    deploy(store)
    for ready, done, result in ((at(5, 8), at(5, 9), "pass"), (at(6, 8), at(6, 13), "fail"),
                                (at(7, 8), at(7, 10), "pass"), (at(8, 8), at(8, 11), "pass")):
        inspect(store, ready, done, result)
    with store.writing() as uow:
        waiting = instances.start_process(uow, "inbound_materials", None, "t", now=at(9, 8)).id
    register = ready_task(store, waiting, "register_delivery")
    with store.writing() as uow:
        instances.complete_task(uow, actor_named(uow, "zhang.proc"), register.id,
                                {"supplier": "S", "material": "M", "quantity": 1}, now=at(9, 8))
    app = create_app(Settings(store.database_url, secret_key="test"), store=store)
    app.config["TESTING"] = True
    app.extensions["late_task"] = ready_task(store, waiting, "inspect_goods").id
    return app


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Browser:
    """A signed-in session: the test client plus the session's current CSRF token."""

    def __init__(self, app, username: str):
        self.client = app.test_client()
        page = self.client.get("/sign-in")
        signed = self.client.post("/sign-in", data={"username": username, "password": "demo",
                                                    "csrf_token": csrf_of(page.text)})
        assert signed.status_code == 302, signed.text
        self.token = csrf_of(self.client.get("/inbox").text)  # the session renews on sign-in

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict | list, **kwargs):
        if isinstance(data, dict):
            data = {**data, "csrf_token": self.token}
        else:
            data = MultiDict([*data, ("csrf_token", self.token)])
        return self.client.post(path, data=data, **kwargs)


def scheme_form(indicators: list[dict], cap: str = "") -> dict:
    form = {"cap": cap}
    for index, indicator in enumerate(indicators):
        for name in ("metric", "weight", "target", "task", "process_key", "field", "value"):
            form[f"ind-{index}-{name}"] = str(indicator.get(name, ""))
    return form


def input_value(html: str, name: str) -> str | None:
    match = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', html)
    return unescape(match.group(1)) if match else None


def flashes(html: str) -> list[str]:
    found = re.findall(r'<p class="flash[^"]*"[^>]*>(.*?)</p>', html, re.S)
    return [unescape(text) for text in found]


def test_dashboard_is_for_managers_restricted_to_their_departments(app):
    manager = Browser(app, "wang.qa")
    page = manager.get("/dashboard?period=2026-10")
    assert page.status_code == 200
    html = page.text
    assert 'data-department="qa"' in html and 'data-department="warehouse"' not in html
    assert 'data-username="li.qa"' in html and 'data-username="guo.wh"' not in html
    li = re.search(r'data-username="li.qa">(.*?)</tr>', html, re.S).group(1)
    assert ">4<" in li and "75.0%" in li  # 4 inspections, 3 on time
    assert app.extensions["late_task"] in html  # waiting since 9 October, due 4 h later
    assert 'id="trend-on-time"' in html and 'aria-label="' in html
    assert 'id="trend-on-time-data"' in html and "chart.js" in html
    assert "<details class=\"chart-data\" open>" in html  # the table fallback
    staff = Browser(app, "li.qa")
    assert staff.get("/dashboard").status_code == 403
    assert staff.get("/dashboard?period=2026-10").status_code == 403


def test_dashboard_names_departments_as_every_page_does_own_name_in_chinese_else_key(app):
    """services.org.department_names: li.qa's department reads 质量部 in Chinese, qa in
    English; the overdue inspection's, the lane it was drawn in (质量部) in both."""
    manager = Browser(app, "wang.qa")
    for language, department in (("en", "qa"), ("zh", "质量部")):
        html = manager.get("/dashboard?period=2026-10", headers={"Accept-Language": language}).text
        li = re.search(r'data-username="li.qa">(.*?)</tr>', html, re.S).group(1)
        assert f"<td>{department}</td>" in li
        overdue = re.search(r'<tr class="overdue" data-task-id="[^"]+">(.*?)</tr>', html, re.S)
        assert "<td>质量部</td>" in overdue.group(1)


def test_dashboard_for_hr_shows_every_department_and_survives_a_bad_period(app):
    hr = Browser(app, "zhao.hr")
    html = hr.get("/dashboard?period=2026-10").text
    assert 'data-department="warehouse"' in html and 'data-username="guo.wh"' in html
    bad = hr.get("/dashboard?period=2026-13")
    assert bad.status_code == 422 and 'id="period-error"' in bad.text


def test_dashboard_service_scope_and_trend(app, store):
    manager, staff = actor(store, "wang.qa"), actor(store, "li.qa")
    period = kpi.parse_period("2026-10", "UTC")
    with store.reading() as uow:
        with pytest.raises(PermissionDenied):
            dashboard.person_rates(uow, staff, period)
        rates = dashboard.department_rates(uow, manager, period)
        assert [row["department"] for row in rates] == ["qa"] and rates[0]["rank"] == 1
        assert rates[0]["on_time_rate"] == "0.7500"
        people = {row["username"]: row for row in dashboard.person_rates(uow, manager, period)}
        assert set(people) == {"wang.qa", "li.qa", "he.qa"}
        assert (people["li.qa"]["completed"], people["li.qa"]["on_time_rate"]) == (4, "0.7500")
        assert people["he.qa"]["on_time_rate"] is None  # nothing to measure: not 0
        overdue = dashboard.overdue_tasks(uow, manager, now=at(20, 0))
        assert [task["department"] for task in overdue] == ["qa"]
        trend = dashboard.weekly_trend(uow, manager, period, now=at(29, 9, month=11))
    assert trend["weeks"][-1] == dt.date(2026, 10, 26) and len(trend["weeks"]) == 10
    [qa] = trend["series"]
    week = trend["weeks"].index(dt.date(2026, 10, 5))
    assert qa["completed"][week] == 4 and qa["on_time_rate"][week] == "0.7500"
    assert qa["on_time_rate"][0] is None and qa["completed"][0] == 0


def test_hr_home_is_for_hr(app):
    refused = Browser(app, "li.qa").get("/hr")
    assert refused.status_code == 403 and refused.mimetype == "text/html"
    assert Browser(app, "wang.qa").get("/hr").status_code == 403
    page = Browser(app, "zhao.hr").get("/hr?period=2026-10")
    assert page.status_code == 200
    assert 'href="/hr/schemes/qa"' in page.text and 'id="department-chart"' in page.text
    assert 'id="run-payroll"' in page.text


def test_scheme_editor_saves_versions_and_shows_errors_by_row(app, store):
    hr = Browser(app, "zhao.hr")
    empty = hr.get("/hr/schemes/qa")
    assert empty.status_code == 200 and 'id="weight-total"' in empty.text
    assert input_value(empty.text, "ind-0-weight") == ""  # one spare row
    assert hr.get("/hr/schemes/nowhere").status_code == 404

    saved = hr.post("/hr/schemes/qa", scheme_form(QA_SCHEME["indicators"], cap="1.2"))
    assert saved.status_code == 302
    page = hr.get("/hr/schemes/qa").text
    assert "version 1" in page.lower() and 'id="scheme-version"' in page
    assert input_value(page, "ind-2-target") == "2" and input_value(page, "ind-3-weight") == ""
    assert ">100<" in page  # the weights add up
    with store.reading() as uow:
        row = uow.session.scalars(select(KpiScheme)).one()
    assert row.version == 1 and [i["metric"] for i in row.document["indicators"]] == [
        "field_rate", "on_time_rate", "avg_handling_hours"]

    ninety = [dict(item) for item in QA_SCHEME["indicators"]]
    ninety[2]["weight"] = 10
    refused = hr.post("/hr/schemes/qa", scheme_form(ninety))
    assert refused.status_code == 422
    html = refused.text
    assert "add up to 100" in html and 'id="weight-message"' in html
    assert input_value(html, "ind-2-weight") == "10"  # the input is kept
    assert input_value(html, "ind-0-task") == "inspect_goods"

    one_bad = [dict(item) for item in QA_SCHEME["indicators"]]
    one_bad[1]["weight"] = "lots"
    refused = hr.post("/hr/schemes/qa", scheme_form(one_bad))
    assert refused.status_code == 422
    assert 'id="e-ind-1-weight"' in refused.text and 'aria-invalid="true"' in refused.text

    # Without JavaScript: the spare row adds an indicator, a "remove" box drops one.
    rows = scheme_form([*QA_SCHEME["indicators"][:2],
                        {"metric": "completed_count", "weight": 20, "target": 10,
                         "task": "inspect_goods"}])
    again = hr.post("/hr/schemes/qa", [*rows.items(), ("ind-3-metric", "avg_handling_hours"),
                                       ("ind-3-weight", "20"), ("ind-3-target", "2"),
                                       ("remove", "3")])
    assert again.status_code == 302
    with store.reading() as uow:
        latest = kpi.latest_scheme_row(uow, "qa")
    assert latest.version == 2 and latest.document["indicators"][2] == {
        "metric": "completed_count", "weight": "20", "target": "10", "task": "inspect_goods"}

    dated = hr.post("/hr/schemes/qa", {**scheme_form(QA_SCHEME["indicators"]),
                                       "effective_from": "2027-01"})
    assert dated.status_code == 302
    assert input_value(hr.get("/hr/schemes/qa").text, "effective_from") == "2027-01"
    undated = hr.post("/hr/schemes/qa", {**scheme_form(QA_SCHEME["indicators"]),
                                         "effective_from": "next year"})
    assert undated.status_code == 422 and 'id="effective-from-error"' in undated.text
    assert Browser(app, "li.qa").post("/hr/schemes/qa", rows).status_code == 403

    # What no database stores is refused before it reaches one, never a server error.
    assert hr.get("/hr/schemes/qa%00").status_code == 404
    nul = hr.post("/hr/schemes/qa", scheme_form([{**QA_SCHEME["indicators"][0], "value": "p\x00"},
                                                *QA_SCHEME["indicators"][1:]]))
    assert nul.status_code == 400


def test_payroll_run_pages_from_draft_to_final(app, store):
    with store.writing() as uow:
        kpi.set_scheme(uow, actor(store, "zhao.hr"), "qa", QA_SCHEME)
    hr = Browser(app, "zhao.hr")
    created = hr.post("/hr/payroll-runs", {"period": "2026-10"})
    assert created.status_code == 302
    run_url = created.headers["Location"]
    run_id = int(run_url.rstrip("/").rsplit("/", 1)[1])

    page = hr.get(run_url).text
    li = re.search(r'<tr data-username="li.qa">(.*?)</tr>', page, re.S).group(1)
    assert "李娜" in li and "78.71%" in li and "1,574.20" in li and "9,574.20" in li
    assert f'href="/hr/payroll-runs/{run_id}/payslips/li.qa"' in li
    assert 'data-flag="no_scheme"' in page  # departments without a scheme
    assert 'id="recalculate-button"' in page and 'id="finalize-button"' in page
    assert re.search(r'id="run-status"[^>]*data-status="draft"', page)
    assert 'id="export-csv"' in page and 'id="export-xlsx"' in page

    again = hr.post("/hr/payroll-runs", {"period": "2026-10"}, follow_redirects=True)
    assert any("already has run" in message for message in flashes(again.text))
    bad = hr.post("/hr/payroll-runs", {"period": "October"}, follow_redirects=True)
    assert any("not YYYY-MM" in message for message in flashes(bad.text))

    assert hr.post(f"/hr/payroll-runs/{run_id}/recalculate", {}).status_code == 302
    unconfirmed = hr.post(f"/hr/payroll-runs/{run_id}/finalize", {}, follow_redirects=True)
    assert 'data-status="draft"' in unconfirmed.text
    # four eyes: zhao.hr prepared it, so only another HR user approves or rejects it
    assert 'id="approve-button"' not in unconfirmed.text and 'id="review-note"' in unconfirmed.text
    own = hr.post(f"/hr/payroll-runs/{run_id}/approve", {}, follow_redirects=True)
    assert any("another HR user must" in message for message in flashes(own.text))
    unapproved = hr.post(f"/hr/payroll-runs/{run_id}/finalize", {"confirm": "yes"},
                         follow_redirects=True)
    assert any("is not approved" in message for message in flashes(unapproved.text))
    second = Browser(app, "qian.hr")
    blank = second.post(f"/hr/payroll-runs/{run_id}/reject", {"reason": " "},
                        follow_redirects=True)
    assert any("say why" in message for message in flashes(blank.text))
    rejected = second.post(f"/hr/payroll-runs/{run_id}/reject", {"reason": "QA looks low"},
                           follow_redirects=True)
    assert re.search(r'id="rejected-by">qian.hr .*QA looks low', rejected.text, re.S)
    approved = second.post(f"/hr/payroll-runs/{run_id}/approve", {}, follow_redirects=True)
    assert re.search(r'id="approved-by">qian.hr', approved.text)
    assert re.search(r'id="prepared-by">zhao.hr', approved.text)
    final = hr.post(f"/hr/payroll-runs/{run_id}/finalize", {"confirm": "yes"},
                    follow_redirects=True)
    assert re.search(r'id="run-status"[^>]*data-status="final"', final.text)
    assert 'id="recalculate-button"' not in final.text and 'id="finalize-button"' not in final.text
    refused = hr.post(f"/hr/payroll-runs/{run_id}/recalculate", {}, follow_redirects=True)
    assert any("final and can no longer change" in message for message in flashes(refused.text))

    home = hr.get("/hr").text
    assert f'data-run-id="{run_id}"' in home and "2026-10" in home

    exported = hr.get(f"/hr/payroll-runs/{run_id}/export?format=csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert exported.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(exported.data.decode("utf-8-sig"))))
    assert next(row for row in rows if row["username"] == "li.qa")["gross"] == "9574.20"
    xlsx = hr.get(f"/hr/payroll-runs/{run_id}/export?format=xlsx")
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["Content-Disposition"]
    assert load_workbook(io.BytesIO(xlsx.data)).active["A1"].value == "username"
    assert hr.get(f"/hr/payroll-runs/{run_id}/export?format=pdf").status_code == 422
    assert Browser(app, "wang.qa").get(run_url).status_code == 403
    assert hr.get("/hr/payroll-runs/999999").status_code == 404


def test_payslip_page_shows_indicators_and_evidence(app, store):
    with store.writing() as uow:
        kpi.set_scheme(uow, actor(store, "zhao.hr"), "qa", QA_SCHEME)
    hr = Browser(app, "zhao.hr")
    run_url = hr.post("/hr/payroll-runs", {"period": "2026-10"}).headers["Location"]
    slip = hr.get(f"{run_url}/payslips/li.qa")
    assert slip.status_code == 200
    html = slip.text
    evidence = re.search(r'<table id="payslip-evidence">(.*?)</table>', html, re.S).group(1)
    assert len(re.findall(r"<tr data-event-id=", evidence)) == 4
    assert "inspect_goods" in evidence and "/instances/" in evidence
    assert "field_rate(task=inspect_goods" in evidence  # counts_for
    assert "no, late" in evidence  # the 6 October inspection took 5 hours against 4
    assert 'id="kpi-score"' in html and "78.71%" in html
    assert len(re.findall(r"<tr data-indicator=", html)) == 3

    he = hr.get(f"{run_url}/payslips/he.qa").text  # no completions: rates not applicable
    assert "not applicable" in he and 'class="not-applicable"' in he

    assert Browser(app, "li.qa").get(f"{run_url}/payslips/li.qa").status_code == 200
    assert Browser(app, "he.qa").get(f"{run_url}/payslips/li.qa").status_code == 403
    assert hr.get(f"{run_url}/payslips/nobody").status_code == 404


def test_pages_refuse_posts_without_the_csrf_token(app):
    hr = Browser(app, "zhao.hr")
    assert hr.client.post("/hr/payroll-runs", data={"period": "2026-10"}).status_code == 400


def test_the_scheme_editor_previews_a_change_against_past_months(app, store):
    from tests.payroll.test_what_if import RAISED
    with store.writing() as uow:
        kpi.set_scheme(uow, actor(store, "zhao.hr"), "qa", QA_SCHEME)
    hr = Browser(app, "zhao.hr")
    form = {**scheme_form(RAISED["indicators"]), "months": "2", "until": "2026-11"}
    preview = hr.post("/hr/schemes/qa/preview", form)
    assert preview.status_code == 200, preview.text[:500]
    html = preview.text
    assert 'id="what-if"' in html and "2026-10" in html and "2026-11" in html
    li = re.search(r'<tr data-username="li.qa">(.*?)</tr>', html, re.S).group(1)
    # October (see tests/payroll/test_what_if.py): 1,574.20 in force, 1,418.20 raised
    assert "1,574.20" in li and "1,418.20" in li and "-156.00" in li
    assert 'data-chart="bar"' in html and "what-if-people-data" in html
    assert input_value(html, "ind-0-target") == "1.0"  # the form comes back as sent
    with store.reading() as uow:
        assert uow.session.scalars(select(KpiScheme.version)).all() == [1]  # nothing saved

    bad_months = hr.post("/hr/schemes/qa/preview", {**form, "months": "99"})
    assert bad_months.status_code == 422 and 'id="months-error"' in bad_months.text
    bad_until = hr.post("/hr/schemes/qa/preview", {**form, "until": "soon"})
    assert bad_until.status_code == 422 and 'id="until-error"' in bad_until.text
    ninety = [dict(item) for item in RAISED["indicators"]]
    ninety[2]["weight"] = 10
    refused = hr.post("/hr/schemes/qa/preview", {**scheme_form(ninety), "months": "2"})
    assert refused.status_code == 422 and "add up to 100" in refused.text
    staff = Browser(app, "li.qa")
    assert staff.post("/hr/schemes/qa/preview", form).status_code == 403
