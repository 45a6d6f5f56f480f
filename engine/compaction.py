"""Keep an instance's task tree shallow however many times it loops.

SpiffWorkflow appends every pass through a loop below the previous one, so a
QA-reject -> redelivery loop deepens the tree by several tasks per pass: each step
gets slower, and past ~1,000 levels task lookup silently misses READY tasks.
DutyFlow records its own history as events, so finished tasks above the live part
of the tree carry nothing the engine still needs: they are cut away and the live
subtree is re-attached to the root.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

# Compacting only past this depth keeps recent structure for SpiffWorkflow's own
# look-backs (loop detection in joins) and makes the work amortised, not per step.
COMPACT_BEYOND_DEPTH = 40


def compact(workflow: BpmnWorkflow, beyond_depth: int = COMPACT_BEYOND_DEPTH) -> int:
    """Drop finished tasks above the live subtree when it sits deeper than `beyond_depth`.

    Returns the number of tasks removed. Subprocess workflows are compacted too.
    """
    removed = _compact_one(workflow, beyond_depth)
    for subprocess in list(workflow.subprocesses.values()):
        removed += _compact_one(subprocess, beyond_depth)
    return removed


def _compact_one(workflow, beyond_depth: int) -> int:
    live = [task for task in workflow.tasks.values() if not task.has_state(TaskState.FINISHED_MASK)]
    if not live:
        return 0
    anchor = _lowest_common_ancestor(live)
    root = workflow.task_tree
    if anchor is root or anchor.parent is root or anchor.depth <= beyond_depth:
        return 0
    keep = {task.id for task in _subtree(anchor)} | {root.id}
    doomed = [task_id for task_id in workflow.tasks if task_id not in keep]
    anchor._parent = root.id
    root._children = [anchor.id]
    for task_id in doomed:
        del workflow.tasks[task_id]
        workflow.top_workflow.subprocesses.pop(task_id, None)
    if workflow.last_task is not None and workflow.last_task.id not in keep:
        workflow.last_task = anchor
    return len(doomed)


def _lowest_common_ancestor(tasks):
    def path(task):
        chain = []
        while task is not None:
            chain.append(task)
            task = task.parent
        return chain[::-1]

    common = path(tasks[0])
    for task in tasks[1:]:
        other = path(task)
        length = 0
        while length < min(len(common), len(other)) and common[length] is other[length]:
            length += 1
        common = common[:length]
    return common[-1]


def _subtree(task):
    stack = [task]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.children)
