"""Whether an instance takes work: one rule for claiming and completing its tasks.

A suspended instance keeps its tasks visible but refuses both until it is resumed; a
finished one (completed, cancelled) refuses them for good. Completion checks it on the
instance row it has locked, so a cancel or suspend that committed first always wins.
"""
from __future__ import annotations

from engine.model import InstanceStatus
from services.errors import Conflict


def require_takes_work(instance_id: int, status: str) -> None:
    if status == InstanceStatus.SUSPENDED:
        raise Conflict(f"process instance {instance_id} is suspended: its tasks cannot be "
                       "claimed or completed until it is resumed")
    if InstanceStatus(status).finished:
        raise Conflict(f"process instance {instance_id} is {status}")
