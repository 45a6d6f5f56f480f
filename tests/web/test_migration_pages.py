"""The designer's migration pages, signed in through the form with CSRF tokens, in
English and Chinese (SQLite and PostgreSQL)."""
from __future__ import annotations

import time

import pytest

from services.settings import Settings
from tests.services.helpers import complete, import_demo_org
from tests.services.migration_diagrams import KEY, deploy_version, start_many
from tests.web.test_incident_pages import Browser
from web.app import create_app

PREVIEW = f"/designer/processes/{KEY}/migrate"


@pytest.fixture
def app(store):
    import_demo_org(store)
    deploy_version(store, 1)
    return create_app(Settings(store.database_url, secret_key="test"), store=store)


def finished(designer, location: str) -> str:
    for _ in range(300):
        page = designer.get(location)
        if 'id="migration-status">completed' in page or 'id="migration-status">已完成' in page:
            return page
        time.sleep(0.05)
    raise AssertionError("the migration did not finish")


def test_the_preview_shows_the_duties_then_the_run_shows_its_progress(app, store):
    ids = start_many(store, 2)
    deploy_version(store, 2)
    deploy_version(store, 3)
    designer = Browser(app, "chen.design")
    assert PREVIEW in designer.get("/designer")
    left_out = designer.get(f"{PREVIEW}?preview=1&from=1&to=3")
    assert "0 of 2 instances can be migrated; 2 left out." in left_out
    assert "inspect is active and the new version has no element inspect" in left_out
    assert 'id="confirm-migration"' not in left_out  # nothing to confirm

    preview = f"{PREVIEW}?preview=1&from=1&to=3&mapping=inspect%3Dcheck"
    page = designer.get(preview)
    assert "2 of 2 instances can be migrated; 0 left out." in page
    assert "<code>inspect</code> → <code>check</code>" in page
    refused = designer.post(preview, PREVIEW, {"from": "1", "to": "3",
                                               "mapping": "inspect=check", "reason": " "},
                            expect=422)
    assert "reason" in refused.get_data(as_text=True)
    answer = designer.post(preview, PREVIEW, {"from": "1", "to": "3", "mapping": "inspect=check",
                                              "reason": "检查改名"})
    done = finished(designer, answer.headers["Location"])
    assert "2 of 2 done (100%): 2 migrated, 0 left out" in done and "检查改名" in done

    designer.post("/inbox", "/language", {"lang": "zh"})
    chinese = designer.get(f"{PREVIEW}?preview=1&from=3&to=2&mapping=check%3Dinspect")
    assert "迁移 inspection 的运行中实例" in chinese and "改由其他部门负责" in chinese
    assert "新增字段：inspection_no" in chinese and "迁移 2 个实例" in chinese
    assert ids


def test_bad_choices_are_shown_on_the_page_and_others_are_refused(app, store):
    start_many(store, 1)
    deploy_version(store, 2)
    designer = Browser(app, "chen.design")
    same = designer.get(f"{PREVIEW}?preview=1&from=2&to=2", expect=422)
    assert "The instances are on this version already" in same
    ghost = designer.get(f"{PREVIEW}?preview=1&from=1&to=2&mapping=ghost%3Dinspect", expect=422)
    assert "ghost: ghost is not an element of version 1." in ghost
    broken = designer.get(f"{PREVIEW}?preview=1&from=1&to=2&mapping=nonsense", expect=422)
    assert "nonsense: OLD=NEW" in broken
    staff = Browser(app, "li.qa")
    staff.get(PREVIEW, expect=403)
    staff.get("/designer/migrations/1", expect=403)
    designer.get("/designer/processes/nothing/migrate", expect=404)
    designer.get("/designer/migrations/99", expect=404)


def test_a_chinese_preview_names_the_departments_before_and_after_not_their_keys(app, store):
    """Version 2 moves the approval to the warehouse: 质量部 before, 仓储部 after, for the
    duty and for the running instance's active approval."""
    [instance] = start_many(store, 1)
    complete(store, instance, "inspect", "li.qa", {"result": "pass"})  # approve is active
    deploy_version(store, 2)
    designer = Browser(app, "chen.design")
    designer.post("/inbox", "/language", {"lang": "zh"})
    page = designer.get(f"{PREVIEW}?preview=1&from=1&to=2")
    approve = page.split('data-element="approve"')[1].split("</tr>")[0]
    assert "<td>质量部</td>" in approve and "<strong>仓储部</strong>" in approve
    assert "质量部 → 仓储部" in page
    assert ">qa<" not in page and ">warehouse<" not in page and "qa → warehouse" not in page
