"""The stored statuses, defined once; StrEnums, so they equal (and are stored, compared and
serialized as) their strings. An instance's status is the engine's
(`engine.model.InstanceStatus`); the kinds of event are payroll's (`payroll.ledger`)."""
from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    READY = "ready"
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # withdrawn by the engine: the process ended or moved on
    # Its instance was cancelled or withdrawn by a person, or it is a countersign's
    # remaining task once the completion condition held: no event, no KPI credit.
    WITHDRAWN = "withdrawn"


class ExternalTaskStatus(StrEnum):
    OPEN = "open"  # waiting for a worker, or locked by one
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # the process ended or moved on


class TimerStatus(StrEnum):
    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"
    FAILED = "failed"  # its instance went into error


class InstanceActionKind(StrEnum):
    """What a person did to a process instance itself (the instance_actions log)."""

    WITHDRAW = "withdraw"  # its starter took it back before another department acted
    CANCEL = "cancel"
    SUSPEND = "suspend"
    RESUME = "resume"
    DATA_FIX = "data_fix"  # process data set or unset on an instance in error
    RETRY = "retry"  # the failed step run again
    MOVE = "move"  # a token taken from one activity and started at another
    MESSAGE = "message"  # a message delivered to it (POST /messages)
    SIGNAL = "signal"  # a signal broadcast to every instance waiting for it
    MIGRATE = "migrated"  # moved to another version of its process (a migration)


class RunStatus(StrEnum):
    DRAFT = "draft"  # recalculated on demand
    FINAL = "final"  # never changes again


class NotificationKind(StrEnum):
    TASK_READY = "task_ready"  # to the assignee, else candidate users, else opted-in members
    TASK_ASSIGNED = "task_assigned"
    TASK_TRANSFERRED = "task_transferred"
    TASK_REMINDER = "task_reminder"
    TASK_ESCALATED = "task_escalated"
    INSTANCE_FINISHED = "instance_finished"  # to the initiator
    INSTANCE_REJECTED = "instance_rejected"  # finished with process data outcome == "rejected"
    PAYSLIP_READY = "payslip_ready"  # to each employee of a run that became final
    INCIDENT_OPENED = "incident_opened"  # a failed step: to designers and admins


class Channel(StrEnum):
    EMAIL = "email"  # to one employee's address
    WEBHOOK = "webhook"  # a department's JSON endpoint, HMAC-signed
    ROBOT = "robot"  # a department's group robot (DingTalk)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for next_attempt_at
    SENDING = "sending"  # claimed by a worker until lease_until; then anyone may retry it
    SENT = "sent"
    FAILED = "failed"  # every attempt failed; an admin may resend it


class ExportStatus(StrEnum):
    """A payroll export made by a background job (services.pay.export_jobs)."""

    QUEUED = "queued"  # waiting for a worker (or being made: a killed attempt leaves it so)
    READY = "ready"  # the file is stored with it
    FAILED = "failed"  # the job raised; `error` says why
