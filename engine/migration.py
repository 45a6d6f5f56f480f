"""Re-hosting an instance's serialized state on another version of its process.

A running instance stores only its task tree (engine.serialization); the spec comes from
its deployed version. Migrating it to version M means: rename the elements a designer
mapped (`{"old_id": "new_id"}`, with the internal specs SpiffWorkflow derives from them,
like `old_id.BoundaryEventSplit`), drop the predictions below the live tasks (the old
diagram's future, re-predicted from the new one once restored), and cut finished history
above the live part of the tree when it names elements the new diagram lacks (DutyFlow
keeps its own history as events; engine.compaction cuts the same part for depth).

`check` tells, without changing anything, which live elements map and which cannot
(the instance is then left out, with the reason); `rehost` gives the state to restore on
the new model. Both are pure functions over the stored JSON, used by the service's plan
and by the sandbox worker's `migrate` step alike, so the plan and the run cannot disagree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.util.task import TaskState

LIVE = TaskState.WAITING | TaskState.READY | TaskState.STARTED | TaskState.ERROR
# Specs SpiffWorkflow adds around an element, named after it.
DERIVED = ("BoundaryEventSplit", "BoundaryEventJoin")
PREDICTED = TaskState.MAYBE | TaskState.LIKELY | TaskState.FUTURE


def renamed(name: str, mapping: dict[str, str]) -> str:
    """A spec name after `mapping`: the element itself, or a spec derived from it."""
    if name in mapping:
        return mapping[name]
    for old, new in mapping.items():
        if name.startswith(old + "."):
            return new + name[len(old):]
    return name


@dataclass
class Check:
    """The live elements of one instance, how they map, and what cannot be mapped."""

    mapped: list[tuple[str, str]] = field(default_factory=list)  # (old, new) live elements
    unmapped: list[str] = field(default_factory=list)  # reasons, one per problem

    @property
    def migratable(self) -> bool:
        return not self.unmapped


def names_of(model: Any) -> dict[str | None, set[str]]:
    """The spec names of a ProcessModel: its process (key None) and each subprocess."""
    names: dict[str | None, set[str]] = {None: set(model.spec.task_specs)}
    names.update((key, set(spec.task_specs)) for key, spec in model.subprocess_specs.items())
    return names


def elements_of(model: Any) -> dict[str, str]:
    """Spec name -> BPMN element id, for the specs that are elements of the diagram."""
    specs = [model.spec, *model.subprocess_specs.values()]
    return {name: spec.bpmn_id for process in specs for name, spec in process.task_specs.items()
            if getattr(spec, "bpmn_id", None)}


def _has(state: int, mask: int) -> bool:
    return bool(state & mask)


def _base(spec: str, element_of: dict[str, str]) -> str:
    """The element a spec name stands for (`a.BoundaryEventSplit` -> `a`)."""
    if spec in element_of:
        return element_of[spec]
    head, dot, suffix = spec.rpartition(".")
    return head if dot and suffix in DERIVED else spec


def _workflows(state: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    top = state["workflow"]
    return [(None, top), *top.get("subprocesses", {}).items()]


def check(state: dict[str, Any], names_of: dict[str | None, set[str]],
          mapping: dict[str, str], element_of: dict[str, str] | None = None) -> Check:
    """What happens to the state's live elements on the new version. `names_of` holds
    the new version's spec names of the top process (key None) and of each subprocess
    spec (by its name); `element_of` turns spec names into the element ids people see."""
    element_of = element_of or {}
    result = Check()
    for _, workflow in _workflows(state):
        names = names_of.get(workflow.get("spec") if workflow is not state["workflow"] else None)
        if names is None:
            result.unmapped.append(f"the subprocess {workflow.get('spec')} does not exist in "
                                   "the new version")
            continue
        kept, _ = _kept(workflow, names, mapping)
        live_missing, stale = [], []
        for task in workflow["tasks"].values():
            spec = task["task_spec"]
            target = renamed(spec, mapping)
            if _has(task["state"], LIVE):
                if target not in names:
                    live_missing.append((_base(spec, element_of), target))
                elif spec in element_of:
                    result.mapped.append((element_of[spec], target))
            elif task["id"] in kept and not _has(task["state"], PREDICTED) \
                    and target not in names:
                stale.append(_base(spec, element_of))
        missing = {element for element, _ in live_missing}
        result.unmapped += [f"{element} is active and the new version has no element "
                            f"{target}: map it to one"
                            for element, target in sorted(set(live_missing))]
        result.unmapped += [f"the finished step {element}, which the instance's state still "
                            "holds, does not exist in the new version"
                            for element in sorted(set(stale) - missing)]
    result.mapped = sorted(set(result.mapped))
    return result


def rehost(state: dict[str, Any], names_of: dict[str | None, set[str]],
           mapping: dict[str, str]) -> dict[str, Any]:
    """The state with mapped elements renamed, predictions below live tasks dropped and
    finished history the new version lacks cut, changed in place (a worker's parsed copy);
    call `check` first (it must pass)."""
    for _, workflow in _workflows(state):
        is_top = workflow is state["workflow"]
        names = names_of[None if is_top else workflow.get("spec")]
        kept, root = _kept(workflow, names, mapping)
        tasks = workflow["tasks"]
        for task_id in [task_id for task_id in tasks if task_id not in kept]:
            del tasks[task_id]
        for task in tasks.values():
            task["children"] = [child for child in task["children"] if child in kept]
            if task["parent"] is not None and task["parent"] not in kept:
                task["parent"] = root
                if task["id"] not in tasks[root]["children"]:
                    tasks[root]["children"].append(task["id"])
            task["task_spec"] = renamed(task["task_spec"], mapping)
        if workflow.get("last_task") not in tasks:
            workflow["last_task"] = None
        if is_top:
            state["workflow"]["subprocesses"] = {
                key: value for key, value in state["workflow"]["subprocesses"].items()
                if key in kept}
    return state


def _kept(workflow: dict[str, Any], names: set[str],
          mapping: dict[str, str]) -> tuple[set[str], str]:
    """Task ids that stay: all but the predictions below live tasks and, when finished
    history names elements the new version lacks, the finished part above the lowest
    common ancestor of the live tasks."""
    tasks = workflow["tasks"]
    root = workflow["root"]
    dropped: set[str] = set()
    for task in tasks.values():
        if _has(task["state"], PREDICTED) and _below_live(task, tasks):
            dropped.add(task["id"])
    stale = [task for task in tasks.values() if task["id"] not in dropped
             and not _has(task["state"], LIVE | PREDICTED)
             and renamed(task["task_spec"], mapping) not in names and task["id"] != root]
    kept = set(tasks) - dropped
    if not stale:
        return kept, root
    live = [task for task in tasks.values() if _has(task["state"], LIVE)]
    if not live:
        return kept, root
    anchor = _common_ancestor(live, tasks)
    subtree = set(_subtree(anchor, tasks)) - dropped
    return subtree | {root}, root


def _below_live(task: dict[str, Any], tasks: dict[str, Any]) -> bool:
    parent = tasks.get(task["parent"]) if task["parent"] else None
    while parent is not None:
        if _has(parent["state"], LIVE):
            return True
        if not _has(parent["state"], PREDICTED):
            return False
        parent = tasks.get(parent["parent"]) if parent["parent"] else None
    return False


def _path(task: dict[str, Any], tasks: dict[str, Any]) -> list[str]:
    chain = []
    while task is not None:
        chain.append(task["id"])
        task = tasks.get(task["parent"]) if task["parent"] else None
    return chain[::-1]


def _common_ancestor(live: list[dict[str, Any]], tasks: dict[str, Any]) -> str:
    common = _path(live[0], tasks)
    for task in live[1:]:
        other = _path(task, tasks)
        length = 0
        while length < min(len(common), len(other)) and common[length] == other[length]:
            length += 1
        common = common[:length]
    return common[-1]


def _subtree(task_id: str, tasks: dict[str, Any]):
    stack = [task_id]
    while stack:
        current = stack.pop()
        if current not in tasks:
            continue
        yield current
        stack.extend(tasks[current]["children"])
