"""Running something of ours when an element starts or ends (listeners, input/output
mappings), on SpiffWorkflow's compiled specs.

The hooks are set on the spec objects once, at load time (they are shared by every
instance of the version and never changed afterwards). "Starts" is after the element has
inherited the process data and is ready, or for a subprocess, just before its steps are
given the data; "ends" is as it completes, before the data flows on. "Inherits" is each
time the element has taken the data from before it, before it decides what to do (a
multi-instance element makes its instances then).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

Action = Callable[[Any], None]


def on_start(task_spec: Any, action: Action, name: str) -> None:
    """Run `action(my_task)` once as each task of `task_spec` starts (`name` tells the
    actions on one spec apart in the task's internal data)."""
    flag = f"started_{name}"
    if hasattr(task_spec, "copy_data"):  # a subprocess: before its steps get the data
        copy_data = task_spec.copy_data

        def copied(my_task: Any, subworkflow: Any) -> Any:
            action(my_task)
            return copy_data(my_task, subworkflow)
        task_spec.copy_data = copied
        return
    update_hook = task_spec._update_hook

    def updated(my_task: Any) -> Any:
        ready = update_hook(my_task)  # inherits the data; a join may wait for more
        if ready and not my_task.internal_data.get(flag):
            my_task.internal_data[flag] = True
            action(my_task)
        return ready
    task_spec._update_hook = updated


def on_end(task_spec: Any, action: Action) -> None:
    """Run `action(my_task)` as each task of `task_spec` completes."""
    complete_hook = task_spec._on_complete_hook

    def completed(my_task: Any) -> Any:
        action(my_task)
        return complete_hook(my_task)
    task_spec._on_complete_hook = completed


def on_inherit(task_spec: Any, action: Action) -> None:
    """Run `action(my_task)` each time a task of `task_spec` has inherited its data."""
    task_spec.update_event.connect(lambda workflow, my_task: action(my_task))
