"""The `dutyflow` command line, run as a real process: exit codes, stderr, JSON output."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import BPMN_DIR, ROOT


@pytest.fixture
def run(database_url):
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = dict(os.environ, DATABASE_URL=database_url)
        result = subprocess.run([sys.executable, "-m", "web.cli", *args], env=env, cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        if check:
            assert result.returncode == 0, result.stderr
        return result
    return run


def test_whole_job_from_the_shell(run):
    run("init-db")
    assert "created" in run("org", "import", str(BPMN_DIR / "demo_org.yaml")).stdout
    imported = [json.loads(line) for line in run("audit", "--entity", "org_import").stdout.splitlines()]
    assert len(imported) == 1 and imported[0]["actor"].startswith("cli:")
    assert imported[0]["new"]["file"].endswith("demo_org.yaml")
    pay = [json.loads(line) for line in run("audit", "--key", "li.qa").stdout.splitlines()]
    assert [(entry["entity"], entry["old"]) for entry in pay] == [("salary", None)]
    out = run("deploy", *sorted(str(p) for p in BPMN_DIR.glob("*.bpmn"))).stdout
    assert "deployed inbound_materials v1" in out
    assert "unchanged inbound_materials v1" in run("deploy", str(BPMN_DIR / "inbound_materials.bpmn")).stdout
    started = json.loads(run("start", "inbound_materials", "--business-key", "PO-1").stdout)
    assert started["status"] == "running" and started["tasks"][0]["element_id"] == "register_delivery"
    tasks = json.loads(run("tasks", "--json", "--as", "zhang.proc").stdout)
    assert [task["element_id"] for task in tasks] == ["register_delivery"]
    assert set(tasks[0]) == {"id", "name", "element_id", "process_instance_id", "process_key",
                             "lane", "department", "candidate_departments", "assignee",
                             "candidate_users", "created_at", "due_at", "status"}
    assert json.loads(run("tasks", "--json", "--as", "li.qa").stdout) == []
    refused = run("complete", tasks[0]["id"], "--as", "li.qa", "--data", "{}", check=False)
    assert refused.returncode == 1 and "not visible to li.qa" in refused.stderr
    invalid = run("complete", tasks[0]["id"], "--as", "zhang.proc", "--data", '{"quantity": 0}',
                  check=False)
    assert invalid.returncode == 1 and "quantity:" in invalid.stderr and "supplier:" in invalid.stderr
    done = json.loads(run("complete", tasks[0]["id"], "--as", "zhang.proc", "--data",
                          json.dumps({"supplier": "S", "material": "M", "quantity": 1})).stdout)
    assert done["tasks"][0]["lane"] == "质量部"
    assert "fired 0 timer(s)" in run("worker", "--once").stdout


def test_lint_and_deploy_report_problems_with_exit_code(run, tmp_path):
    run("init-db")
    broken = tmp_path / "broken.bpmn"
    broken.write_text((BPMN_DIR / "inbound_materials.bpmn").read_text("utf-8")
                      .replace("${result == 'fail'}", "${result ==}"), "utf-8")
    result = run("lint", str(broken), check=False)
    assert result.returncode == 1
    assert f"{broken}:" in result.stderr and "flow_failed_to_return: condition" in result.stderr
    assert run("lint", str(BPMN_DIR / "inbound_materials.bpmn")).returncode == 0
    deployed = run("deploy", str(broken), check=False)
    assert deployed.returncode == 1 and "flow_failed_to_return" in deployed.stderr


def test_bad_arguments_fail_cleanly(run):
    run("init-db")
    result = run("start", "inbound_materials", "--data", "{not json", check=False)
    assert result.returncode == 1 and "not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run("start", "nothing_here", check=False)
    assert missing.returncode == 1 and "no process is deployed" in missing.stderr
    bad_org = run("org", "import", str(BPMN_DIR / "inbound_materials.bpmn"), check=False)
    assert bad_org.returncode == 1 and "Traceback" not in bad_org.stderr


def test_org_dry_run_export_and_spreadsheet_import(run, tmp_path):
    run("init-db")
    run("org", "import", str(BPMN_DIR / "demo_org.yaml"))
    run("deploy", str(BPMN_DIR / "inbound_materials.bpmn"))
    started = json.loads(run("start", "inbound_materials").stdout)
    task = started["tasks"][0]["id"]
    run("complete", task, "--as", "zhang.proc", "--data",
        json.dumps({"supplier": "S", "material": "M", "quantity": 1}))
    demo = (BPMN_DIR / "demo_org.yaml").read_text("utf-8")
    moved = tmp_path / "moved.yaml"
    moved.write_text(demo.replace("{key: qa, name: 质量部,", "{key: qa, name: 质检组,").replace(
        "lanes: [Production]", "lanes: [Production, 质量部]"), "utf-8")
    out = run("org", "import", str(moved), "--dry-run").stdout
    assert "nothing was changed" in out
    assert "inbound_materials v1 inspect_goods (Inspect goods): qa (质量部) -> production (生产部)" in out
    assert "open tasks that would move: 1" in out
    orphaned = tmp_path / "orphaned.yaml"
    orphaned.write_text(demo.replace("{key: qa, name: 质量部,", "{key: qa, name: 质检组,"), "utf-8")
    refused = run("org", "import", str(orphaned), "--dry-run", check=False)
    assert refused.returncode == 1 and "'质量部'" in refused.stdout.split("refused:")[1]
    refused = run("org", "import", str(orphaned), check=False)
    assert refused.returncode == 1 and "would route to no department" in refused.stderr
    for kind in ("xlsx", "csv", "yaml"):
        exported = tmp_path / f"org.{kind}"
        assert "9 departments" in run("org", "export", str(exported)).stdout
        assert "0 created, 0 updated, 0 deactivated, 0 open task(s) moved" in \
            run("org", "import", str(exported)).stdout
    assert "1 open task(s) moved" in run("org", "import", str(moved)).stdout
    template = tmp_path / "template.xlsx"
    run("org", "template", str(template))
    broken = tmp_path / "broken.csv"
    broken.write_text("kind,username,name\nemployee,li.qa,\n", "utf-8")
    failed = run("org", "import", str(broken), check=False)
    assert failed.returncode == 1
    assert "broken.csv: row 2 (employee), column C (name): required" in failed.stderr
