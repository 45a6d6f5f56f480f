"""Whether an instance takes work: one rule for claiming and completing its tasks.

A suspended instance keeps its tasks visible but refuses both until it is resumed; a
finished one (completed, cancelled) refuses them for good. Completion checks it on the
instance row it has locked, so a cancel or suspend that committed first always wins.
"""
from __future__ import annotations

from engine.model import InstanceStatus
from services.errors import N_, Conflict


def require_takes_work(instance_id: int, status: str) -> None:
    if status == InstanceStatus.SUSPENDED:
        raise Conflict(text=N_("process instance %(instance)s is suspended: its tasks cannot "
                               "be claimed or completed until it is resumed"),
                       params={"instance": instance_id})
    if InstanceStatus(status).finished:
        raise Conflict(text=N_("process instance %(instance)s is %(status)s"),
                       params={"instance": instance_id, "status": str(status)})
