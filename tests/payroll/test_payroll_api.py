"""Payroll and reports over HTTP, on SQLite and PostgreSQL."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from services.settings import Settings
from tests.payroll.test_payroll_runs import QA_SCHEME, at, inspect
from tests.services.helpers import deploy, import_demo_org
from tests.web.test_api import sign_in
from web.app import create_app


@pytest.fixture
def client(store):
    import_demo_org(store)
    deploy(store)
    inspect(store, at(5, 8), at(5, 9), "pass")
    inspect(store, at(6, 8), at(6, 13), "fail")
    return create_app(Settings(store.database_url), store=store).test_client()


def test_hr_runs_payroll_over_http(client):
    hr, staff = sign_in(client, "zhao.hr"), sign_in(client, "li.qa")
    assert client.put("/api/v1/kpi-schemes/qa", headers=staff, json=QA_SCHEME).status_code == 403
    bad = client.put("/api/v1/kpi-schemes/qa", headers=hr,
                     json={"indicators": [{"metric": "on_time_rate", "weight": 90, "target": 1}]})
    assert bad.status_code == 422 and "add up to 100" in bad.json["errors"]["indicators"][0]
    saved = client.put("/api/v1/kpi-schemes/qa", headers=hr, json=QA_SCHEME)
    assert saved.status_code == 200 and saved.json["version"] == 1
    assert client.get("/api/v1/kpi-schemes/qa", headers=hr).json["indicators"][0]["metric"] == "field_rate"
    report = client.get("/api/v1/kpi?period=2026-10&department=qa", headers=hr).json
    li = next(row for row in report if row["username"] == "li.qa")
    # 1 of 2 passed (0.5/0.9), 1 of 2 on time, (1 h + 5 h) / 2 = 3 h against 2 h
    assert [i["score"] for i in li["indicators"]] == ["0.5556", "0.5000", "0.6667"]
    created = client.post("/api/v1/payroll-runs", headers=hr, json={"period": "2026-10"})
    assert created.status_code == 201 and created.json["status"] == "draft"
    run_id = created.json["id"]
    line = next(l for l in created.json["lines"] if l["username"] == "li.qa")
    assert (line["kpi_score"], line["bonus"], line["gross"]) == ("0.5611", "1122.20", "9122.20")
    assert client.post("/api/v1/payroll-runs", headers=hr, json={"period": "2026-10"}).status_code == 409
    assert client.post("/api/v1/payroll-runs", headers=hr, json={"period": "2026-13"}).status_code == 422
    assert client.post(f"/api/v1/payroll-runs/{run_id}/recalculate", headers=hr).json["lines"] == \
        created.json["lines"]
    assert client.post(f"/api/v1/payroll-runs/{run_id}/finalize", headers=hr).status_code == 409
    second = sign_in(client, "qian.hr")
    assert client.post(f"/api/v1/payroll-runs/{run_id}/approve", headers=second).json[
        "approved_by"] == "qian.hr"
    assert client.post(f"/api/v1/payroll-runs/{run_id}/finalize", headers=hr).json["status"] == "final"
    assert client.post(f"/api/v1/payroll-runs/{run_id}/recalculate", headers=hr).status_code == 409
    csv_response = client.get(f"/api/v1/payroll-runs/{run_id}/export?format=csv", headers=hr)
    assert csv_response.status_code == 200 and "李娜" in csv_response.data.decode("utf-8-sig")
    xlsx = client.get(f"/api/v1/payroll-runs/{run_id}/export?format=xlsx", headers=hr)
    assert load_workbook(io.BytesIO(xlsx.data)).active.max_row == len(created.json["lines"]) + 1
    slip = client.get(f"/api/v1/payroll-runs/{run_id}/payslips/li.qa", headers=staff)
    assert slip.status_code == 200 and len(slip.json["evidence"]) == 2
    assert client.get(f"/api/v1/payroll-runs/{run_id}/payslips/he.qa", headers=staff).status_code == 403
    trail = client.get(f"/api/v1/audit?entity=payroll_run&key={run_id}", headers=hr)
    assert [(e["actor"], e["action"]) for e in trail.json] == [
        ("zhao.hr", "finalized"), ("qian.hr", "approved"), ("zhao.hr", "recalculated"),
        ("zhao.hr", "created")]
    older = client.get(f"/api/v1/audit?before={trail.json[0]['id']}&limit=1", headers=hr).json
    assert [e["id"] for e in older] == [trail.json[1]["id"]]
    assert client.get("/api/v1/audit?entity=salary", headers=staff).status_code == 403
    assert client.get("/api/v1/audit?entity=payslip", headers=hr).status_code == 422
    assert client.get("/api/v1/audit?before=9519322644230502", headers=hr).status_code == 422


def test_correction_over_http(client):
    head, staff = sign_in(client, "wang.qa"), sign_in(client, "li.qa")
    report = client.get("/api/v1/reports/employees/li.qa?period=2026-10", headers=staff).json
    failed = next(event for event in report["events"] if event["data"]["result"] == "fail")
    body = {"data": {"result": "pass"}, "reason": "re-tested"}
    assert client.post(f"/api/v1/events/{failed['event_id']}/corrections", headers=staff,
                       json=body).status_code == 403
    corrected = client.post(f"/api/v1/events/{failed['event_id']}/corrections", headers=head, json=body)
    assert corrected.status_code == 201 and corrected.json["data"]["result"] == "pass"
    again = client.get("/api/v1/reports/employees/li.qa?period=2026-10", headers=staff).json
    assert all(event["data"]["result"] == "pass" for event in again["events"])


def test_reports(client):
    manager, staff = sign_in(client, "wang.qa"), sign_in(client, "li.qa")
    assert client.get("/api/v1/reports/department-ranking?period=2026-10", headers=staff).status_code == 403
    ranking = client.get("/api/v1/reports/department-ranking?period=2026-10", headers=manager).json
    qa = next(row for row in ranking if row["department"] == "qa")
    assert qa["on_time_rate"] == "0.5000" and qa["completed"] == 2 and qa["rank"] >= 1
    assert next(r for r in ranking if r["department"] == "legal")["completion_rate"] is None
    weekly = client.get("/api/v1/reports/trend?from=2026-09-28&to=2026-11-02&granularity=week",
                        headers=manager).json
    qa_weeks = [row for row in weekly if row["department"] == "qa"]
    assert qa_weeks == [{"department": "qa", "bucket": "2026-10-05", "completed": 2,
                         "on_time_rate": "0.5000"}]
    monthly = client.get("/api/v1/reports/trend?from=2026-10-01&to=2026-11-01&granularity=month",
                         headers=manager).json
    assert {"department": "qa", "bucket": "2026-10", "completed": 2, "on_time_rate": "0.5000"} in monthly
    assert client.get("/api/v1/reports/trend?from=2026-11-01&to=2026-10-01", headers=manager
                      ).status_code == 422
    assert client.get("/api/v1/reports/trend?from=9999-11-01&to=9999-12-31&granularity=month",
                      headers=manager).status_code == 422


def test_payroll_from_the_shell(client, database_url, tmp_path):
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    def run(*args):
        return subprocess.run([sys.executable, "-m", "web.cli", *args], cwd=ROOT, text=True,
                              capture_output=True, timeout=120,
                              env=dict(os.environ, DATABASE_URL=database_url))

    scheme = tmp_path / "qa.yaml"
    scheme.write_text(json.dumps(QA_SCHEME), "utf-8")
    assert "version 1" in run("kpi", "set", "qa", str(scheme)).stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("indicators:\n  - {metric: on_time_rate, weight: 10, target: 1}\n", "utf-8")
    refused = run("kpi", "set", "qa", str(bad))
    assert refused.returncode == 1 and "add up to 100" in refused.stderr
    created = run("payroll", "run", "--period", "2026-10")
    assert created.returncode == 0, created.stderr
    run_id = json.loads(created.stdout)["id"]
    unapproved = run("payroll", "finalize", str(run_id))
    assert unapproved.returncode == 1 and "not approved" in unapproved.stderr
    assert "approved by qian.hr" in run("payroll", "approve", str(run_id), "--as", "qian.hr").stdout
    assert run("payroll", "finalize", str(run_id)).returncode == 0
    assert "is final" in run("payroll", "finalize", str(run_id)).stderr
    out = tmp_path / "run.xlsx"
    assert run("payroll", "export", str(run_id), "--format", "xlsx", "-o", str(out)).returncode == 0
    assert load_workbook(out).active.max_row > 1


def test_a_what_if_over_http(client):
    hr, staff = sign_in(client, "zhao.hr"), sign_in(client, "li.qa")
    client.put("/api/v1/kpi-schemes/qa", headers=hr, json=QA_SCHEME)
    raised = {"indicators": [dict(QA_SCHEME["indicators"][0], target="1.0"),
                             *QA_SCHEME["indicators"][1:]]}
    body = {"scheme": raised, "periods": ["2026-10"]}
    url = "/api/v1/kpi-schemes/qa/what-if"
    assert client.post(url, headers=staff, json=body).status_code == 403
    assert client.post("/api/v1/kpi-schemes/nowhere/what-if", headers=hr,
                       json=body).status_code == 404
    bad = client.post(url, headers=hr, json={"scheme": raised, "periods": ["October"]})
    assert bad.status_code == 422 and "periods[0]" in bad.json["errors"]
    assert client.post(url, headers=hr, data="{", content_type="application/json").status_code == 422
    answer = client.post(url, headers=hr, json=body)
    assert answer.status_code == 200
    li = next(row for row in answer.json["rows"] if row["username"] == "li.qa")
    # 1 of 2 passed: 0.5/0.9 = 0.5556 in force, 0.5/1.0 = 0.5000 raised; weight 50 of 100
    assert (li["actual_kpi_score"], li["proposed_kpi_score"]) == ("0.5611", "0.5333")
    assert (li["actual_bonus"], li["proposed_bonus"], li["bonus_delta"]) == (
        "1122.20", "1066.60", "-55.60")
