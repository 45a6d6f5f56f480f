"""A department as its reader names it (services.org.department_names): the one rule the
pages, the page header, the payslip PDF and the notifications follow."""
from __future__ import annotations

import pytest
import yaml

from services.org.department_names import department_in_language, own_name, own_names
from services.workflow.labels import labels_for
from tests.notify.support import import_org
from tests.conftest import BPMN_DIR
from tests.services.helpers import import_demo_org


@pytest.mark.parametrize("locale", ["zh", "zh-CN", "zh_CN", "ZH-cn", "zh-Hans"])
def test_a_reader_of_chinese_reads_the_departments_own_name_not_its_lane_or_key(locale):
    assert department_in_language("qa", "质量部", locale, drawn="Quality") == "质量部"
    assert department_in_language("qa", "质量部", locale) == "质量部"


def test_a_reader_of_chinese_reads_the_lane_then_the_key_of_a_department_without_a_name():
    assert department_in_language("qa", None, "zh", drawn="Quality") == "Quality"
    assert department_in_language("qa", None, "zh") == "qa"


@pytest.mark.parametrize("locale", ["en", "en-GB", "de", None, ""])
def test_any_other_reader_reads_the_lane_it_was_drawn_in_else_the_key(locale):
    assert department_in_language("qa", "质量部", locale, drawn="Quality") == "Quality"
    assert department_in_language("qa", "质量部", locale) == "qa"


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_a_task_of_no_department_is_named_by_its_lane_or_not_at_all(locale):
    assert department_in_language(None, None, locale, drawn="Quality") == "Quality"
    assert department_in_language(None, None, locale) == ""


def test_a_department_a_new_org_file_left_out_keeps_its_own_name(store):
    """Legal is deactivated by a file without it: its history and escalations still read
    法务部 on Chinese pages."""
    import_demo_org(store)
    document = yaml.safe_load((BPMN_DIR / "demo_org.yaml").read_text("utf-8"))
    document["departments"] = [row for row in document["departments"] if row["key"] != "legal"]
    document["employees"] = [row for row in document["employees"]
                             if row["department"] != "legal"]
    import_org(store, yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    with store.reading() as uow:
        assert own_names(uow)["legal"] == own_name(uow, "legal") == "法务部"
        assert own_name(uow, "nowhere") is None and own_name(uow, None) is None
        assert labels_for(uow, "zh", all_processes=False).department("legal") == "法务部"
        assert labels_for(uow, "en", all_processes=False).department("legal") == "legal"
