"""XPath gateway conditions end to end: a diagram declaring BPMN's XPath deployed over the
REST API, instances run through both branches in the sandbox workers, on SQLite and
PostgreSQL; a bad XPath condition refused with file, line, element and column."""
from __future__ import annotations

from xml.sax.saxutils import escape

import pytest

from tests.engine.bpmn_builder import HEADER
from tests.web.test_expression_languages_api import (approval_diagram, client, run_to_route,
                                                     sign_in, upload)

__all__ = ["client"]  # the fixture, shared with the JUEL and FEEL module

XPATH_HEADER = HEADER.replace('id="defs"',
                              'id="defs" expressionLanguage="http://www.w3.org/1999/XPath"')
XPATH = approval_diagram(
    "xpath_approval",
    "bpmn:getDataObject('amount') > 1000 or bpmn:getDataObject('urgent')",
    "bpmn:getDataObject('amount') <= 1000 and not(bpmn:getDataObject('urgent'))",
    header=XPATH_HEADER)
# Data objects reached by paths, from the data the instance was started with.
XPATH_PATHS = approval_diagram(
    "xpath_paths",
    "sum(bpmn:getDataObject('order')/lines/price) * $amount > 1000 or $urgent = true()",
    "not(sum(bpmn:getDataObject('order')/lines/price) * $amount > 1000 or $urgent = true())",
    header=XPATH_HEADER)


def test_a_deployed_diagram_routes_by_its_xpath_conditions(client):
    assert upload(client, "xpath.bpmn", XPATH).status_code == 201
    assert run_to_route(client, "xpath_approval", {"amount": 5000, "urgent": False}) == \
        ["manager"]
    assert run_to_route(client, "xpath_approval", {"amount": 20, "urgent": True}) == ["manager"]
    assert run_to_route(client, "xpath_approval", {"amount": 20, "urgent": False}) == ["clerk"]


def test_xpath_paths_read_the_data_an_instance_started_with(client):
    assert upload(client, "paths.bpmn", XPATH_PATHS).status_code == 201
    qa = sign_in(client, "li.qa")

    def route(order: dict, amount: int) -> list[str]:
        started = client.post("/api/v1/process-instances", headers=qa,
                              json={"process_key": "xpath_paths", "data": {"order": order}})
        assert started.status_code == 201, started.json
        [review] = started.json["tasks"]
        done = client.post(f"/api/v1/tasks/{review['id']}/complete", headers=qa,
                           json={"data": {"amount": amount, "urgent": False}})
        assert done.status_code == 200 and done.json["status"] == "running", done.json
        return [task["element_id"] for task in done.json["tasks"]]

    order = {"lines": [{"price": 30}, {"price": 20.5}]}
    assert route(order, 100) == ["manager"]   # 50.5 * 100
    assert route(order, 10) == ["clerk"]      # 50.5 * 10


def test_the_stored_diagram_is_the_one_the_designer_wrote(client):
    assert upload(client, "xpath.bpmn", XPATH).status_code == 201
    xml = client.get("/api/v1/process-definitions/xpath_approval/versions/1/bpmn",
                     headers=sign_in(client, "li.qa"))
    assert xml.status_code == 200 and xml.data == XPATH


@pytest.mark.parametrize("to_manager, column, message", [
    ("bpmn:getDataObject('amount') >", 31, "unexpected end of expression"),
    ("amount > 1000", 1, "the path 'amount' reads the context node"),
    ("starts-with(bpmn:getDataObject('name'))", 1, "starts-with() takes 2 arguments, not 1"),
])
def test_a_bad_xpath_condition_is_refused_with_file_line_element_and_column(
        client, to_manager, column, message):
    source = approval_diagram("broken", to_manager, "true()", header=XPATH_HEADER)
    refused = upload(client, "broken.bpmn", source)
    assert refused.status_code == 422
    assert refused.content_type == "application/problem+json"
    [error] = refused.json["errors"]
    line = source[:source.index(escape(to_manager).encode())].count(b"\n") + 1
    assert (error["file"], error["line"], error["element_id"]) == ("broken.bpmn", line,
                                                                   "to_manager")
    assert "(xpath): " in error["message"]
    assert f"line 1, column {column}: {message}" in error["message"]
