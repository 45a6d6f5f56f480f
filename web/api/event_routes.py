"""Messages and signals from outside systems, delivered to the instances waiting for them."""
from __future__ import annotations

from services.workflow import correlation

from . import actor, bp, store
from .contract import operation
from .schemas import MessageRequest, MessageResult, ReplayHeaders, SignalRequest, SignalResult


@bp.post("/messages")
@operation({200: MessageResult}, body=MessageRequest, reply_headers={200: ReplayHeaders},
           problems=(403, 404, 409, 422))
def send_message(body: dict):
    """Move the one running instance waiting for this message (admins), narrowed by
    business_key and correlation; 404 when none waits, 409 when several do without
    "all": true. The same message_id again answers as the first time (with
    Idempotent-Replayed: true), moving nothing."""
    with store().writing() as uow:
        answer, replayed = correlation.send_message(
            uow, actor(), body["name"], business_key=body.get("business_key"),
            correlation=body.get("correlation"), data=body["data"],
            message_id=body.get("message_id"), deliver_all=body["all"])
    return answer, 200, {"replayed": "true"} if replayed else {}


@bp.post("/signals")
@operation({200: SignalResult}, body=SignalRequest, problems=(403, 422))
def send_signal(body: dict):
    """Reach every running instance waiting for this signal (admins)."""
    with store().writing() as uow:
        return correlation.send_signal(uow, actor(), body["name"], body["data"])
