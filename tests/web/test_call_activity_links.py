"""A caller and the child its call activity started link to each other, in the API's
instance shape and on the instance page; deploying a caller before its callee answers
with a warning. SQLite and PostgreSQL."""
from __future__ import annotations

import io

from tests.services.helpers import complete, deploy
from tests.services.test_call_activities import caller, children, reviewer, start
from tests.web.sign_in_helpers import page_sign_in
from tests.web.test_api import client, sign_in  # noqa: F401  (fixture)


def test_the_deploy_answer_warns_of_a_call_into_a_process_not_deployed(client):
    response = client.post("/api/v1/process-definitions", headers=sign_in(client, "chen.design"),
                           data={"file": (io.BytesIO(caller()), "order.bpmn")},
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    [warning] = response.json["warnings"]
    assert warning["file"] == "order.bpmn" and warning["element_id"] == "call"
    assert "'reviewer'" in warning["message"]


def test_the_api_and_the_page_link_caller_and_child_both_ways(client, store):
    deploy(store, "reviewer.bpmn", reviewer())
    deploy(store, "order.bpmn", caller())
    parent = start(store)
    complete(store, parent, "prepare", "huang.sales", {})
    [child] = children(store, parent)
    headers = sign_in(client, "admin")
    shown = client.get(f"/api/v1/process-instances/{parent}", headers=headers).json
    assert shown["parent"] is None
    assert [(item["id"], item["process_key"], item["element_id"], item["status"])
            for item in shown["children"]] == [(child.id, "reviewer", "call", "running")]
    called = client.get(f"/api/v1/process-instances/{child.id}", headers=headers).json
    assert called["parent"] == {"id": parent, "process_key": "order", "status": "running",
                                "element_id": "call"}
    assert called["children"] == []
    page_sign_in(client, "admin")
    caller_page = client.get(f"/instances/{parent}").get_data(as_text=True)
    assert f'href="/instances/{child.id}"' in caller_page and 'id="called-instances"' in caller_page
    child_page = client.get(f"/instances/{child.id}").get_data(as_text=True)
    assert 'id="called-by"' in child_page and f'href="/instances/{parent}"' in child_page
