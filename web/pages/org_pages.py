"""The organisation chart and the duty matrix, as services.reporting.org_queries lets each person see them."""
from __future__ import annotations

from flask import render_template

from services.errors import PermissionDenied
from services.reporting import org_queries

from . import bp, page_actor, page_labels, signed_in, store


def _tree(departments: list[dict], employees: list[dict], steps: list[dict],
          process_names: dict[str, str]) -> list[dict]:
    names = {d["key"]: d["name"] for d in departments}
    people: dict[str, list[dict]] = {}
    for person in employees:
        people.setdefault(person["department"], []).append(person)
    by_username = {person["username"]: person for person in employees}
    owned: dict[str, list[dict]] = {}
    for step in steps:
        for owner in step["owners"]:
            if owner in names:
                owned.setdefault(owner, []).append({
                    **step, "process_name": process_names.get(step["process_key"], step["process_key"]),
                    "shared_with": [names[o] for o in step["owners"] if o != owner and o in names]})
    nodes = {d["key"]: {**d, "children": [], "people": sorted(people.get(d["key"], []),
                                                               key=lambda p: p["username"] != d["head"]),
                        "head_person": by_username.get(d["head"]) if d["head"] else None,
                        "steps": owned.get(d["key"], [])}
             for d in departments}
    roots = []
    for node in nodes.values():
        parent = nodes.get(node["parent"]) if node["parent"] else None
        (parent["children"] if parent else roots).append(node)
    return roots


def _localized(uow, steps: list[dict]) -> tuple[list[dict], dict[str, str]]:
    """The steps with their names, and every process's name, in the page's language."""
    labels = page_labels(uow)
    return ([{**step, "name": labels.step(step["process_key"], step["element_id"], step["name"])}
             for step in steps], {key: labels.process(key) for key in labels.by_key})


@bp.get("/org")
@signed_in
def org_chart():
    actor = page_actor()
    with store().reading() as uow:
        departments = org_queries.list_departments(uow, actor)
        employees = org_queries.list_employees(uow, actor)
        try:
            steps = org_queries.duty_matrix(uow, actor)["steps"]
            may_read_matrix = True
        except PermissionDenied:
            steps = org_queries.duty_owners(uow)
            may_read_matrix = False
        steps, process_names = _localized(uow, steps)
    return render_template("org.html", roots=_tree(departments, employees, steps, process_names),
                           departments=departments,
                           shows_pay=any("base_salary" in person for person in employees),
                           may_read_matrix=may_read_matrix)


@bp.get("/org/duty-matrix")
@signed_in
def duty_matrix():
    with store().reading() as uow:
        matrix = org_queries.duty_matrix(uow, page_actor())  # PermissionDenied -> 403
        matrix["steps"], process_names = _localized(uow, matrix["steps"])
        matrix["overlaps"], _ = _localized(uow, matrix["overlaps"])
    processes: list[dict] = []
    for step in matrix["steps"]:
        if not processes or processes[-1]["key"] != step["process_key"]:
            processes.append({"key": step["process_key"], "steps": [],
                              "name": process_names.get(step["process_key"], step["process_key"])})
        processes[-1]["steps"].append(step)
    return render_template("org_duty_matrix.html", matrix=matrix, processes=processes)
