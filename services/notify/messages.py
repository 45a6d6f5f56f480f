"""The texts of notifications, in the recipient's language.

English msgids, marked with `N_` so `make translations` extracts them into the same
catalogue as the pages (web/translations); the Chinese texts are translated there.
A message is rendered when it is shown or sent, from the payload stored with it, so a
text fixed later reads right in old notifications too. The names in it are the reader's
too: the payload carries the task's and process's `i18n:<language>` labels and the
department's own name (services.notify.labels), picked here by the reader's locale (the
department by services.org.department_names' rule, as the pages name it), the drawn names
where a diagram has no translation.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations

from engine.labels import pick
from services.org.department_names import department_in_language
from services.persistence.statuses import NotificationKind

Gettext = Callable[[str], str]


def N_(text: str) -> str:
    """Marks a text for extraction; translated where it is rendered."""
    return text


# kind -> (title, body); placeholders are filled from the payload (see _values).
TEXTS: dict[str, tuple[str, str]] = {
    NotificationKind.TASK_READY: (
        N_("New task: %(task)s"),
        N_("%(task)s (%(process)s #%(instance)s) is ready for %(department)s.")),
    NotificationKind.TASK_ASSIGNED: (
        N_("Task assigned to you: %(task)s"),
        N_("%(by)s assigned %(task)s (%(process)s #%(instance)s) to you.")),
    NotificationKind.TASK_TRANSFERRED: (
        N_("Task transferred to you: %(task)s"),
        N_("%(by)s transferred %(task)s (%(process)s #%(instance)s) to you.")),
    NotificationKind.TASK_REMINDER: (
        N_("Reminder: %(task)s is waiting"),
        N_("%(task)s (%(process)s #%(instance)s) of %(department)s is still open.")),
    NotificationKind.TASK_ESCALATED: (
        N_("Escalated: %(task)s"),
        N_("%(task)s (%(process)s #%(instance)s) of %(department)s is still open and was "
           "escalated to you.")),
    NotificationKind.INSTANCE_FINISHED: (
        N_("Finished: %(process)s #%(instance)s"),
        N_("The process %(process)s #%(instance)s that you started has finished.")),
    NotificationKind.INSTANCE_REJECTED: (
        N_("Rejected: %(process)s #%(instance)s"),
        N_("The process %(process)s #%(instance)s that you started ended as rejected.")),
    NotificationKind.PAYSLIP_READY: (
        N_("Your payslip for %(period)s is ready"),
        N_("Payroll run %(run)s for %(period)s is final; your payslip is ready.")),
    NotificationKind.INCIDENT_OPENED: (
        N_("Incident in %(process)s"),
        N_("%(process)s #%(instance)s failed at %(element)s: %(error)s")),
}
DUE = N_("Due: %(due)s")
ON_BEHALF = N_("You are told as the substitute of %(person)s, who is away.")
OPEN = N_("Open in DutyFlow")
PDF = N_("Payslip as PDF")


@dataclass(frozen=True)
class Message:
    title: str
    text: str  # plain text: the body, the due time, the link
    body: str  # the body alone (in-app list)
    url: str

    def markdown(self, open_label: str) -> str:
        return f"### {self.title}\n\n{self.body}\n\n[{open_label}]({self.url})"


def _department(task: Mapping[str, Any], locale: str | None) -> str:
    """As the pages name it (services.org.department_names). Payloads stored before lanes
    were kept name it as they did then: by its own name, for every reader."""
    if "lane" not in task:
        return task.get("department_name") or task.get("department") or ""
    return department_in_language(task.get("department"), task.get("department_name"),
                                  locale, task.get("lane"))


def _values(payload: Mapping[str, Any], locale: str | None) -> dict[str, Any]:
    task = payload.get("task") or {}
    instance = payload.get("instance") or {}
    run = payload.get("run") or {}
    incident = payload.get("incident") or {}
    about = task or instance or incident
    return {"task": pick(task.get("labels"), locale, task.get("name", "")),
            "process": pick(about.get("process_labels"), locale, about.get("process_key") or ""),
            "instance": task.get("process_instance_id") or instance.get("id")
            or incident.get("process_instance_id") or "-",
            "element": incident.get("element_id") or "-", "error": incident.get("message", ""),
            "department": _department(task, locale),
            "by": payload.get("by") or "", "period": run.get("period", ""),
            "run": run.get("id", "")}


def link(kind: str, payload: Mapping[str, Any], base_url: str) -> str:
    """Where the message leads: the task, the instance, the incident, or the payslip."""
    if "task" in payload:
        return f"{base_url}/tasks/{payload['task']['id']}"
    if "instance" in payload:
        return f"{base_url}/instances/{payload['instance']['id']}"
    if "incident" in payload:
        return f"{base_url}/incidents/{payload['incident']['id']}"
    if "run" in payload:
        return f"{base_url}/hr/payroll-runs/{payload['run']['id']}/payslips/{payload['username']}"
    return f"{base_url}/notifications"


def render(kind: str, payload: Mapping[str, Any], gettext: Gettext, base_url: str,
           locale: str | None = None) -> Message:
    """The message in the language of `gettext`, the names in `locale` (the same reader's:
    `en`, `zh-CN`)."""
    title, body = TEXTS[kind]
    values = _values(payload, locale)
    title, body = gettext(title) % values, gettext(body) % values
    if payload.get("on_behalf_of"):
        body += " " + gettext(ON_BEHALF) % {"person": payload["on_behalf_of"]}
    url = link(kind, payload, base_url)
    lines = [body]
    due = (payload.get("task") or {}).get("due_at")
    if due:
        lines.append(gettext(DUE) % {"due": due})
    lines += ["", f"{gettext(OPEN)}: {url}"]
    if kind == NotificationKind.PAYSLIP_READY:
        lines.append(f"{gettext(PDF)}: {url}.pdf")  # pages.hr_payslip_pdf, beside the page
    return Message(title, "\n".join(lines), body, url)


class Catalogs:
    """Gettext functions by locale (`en`, `zh-CN`), from the pages' compiled catalogues."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self._loaded: dict[str, Gettext] = {}

    def gettext(self, locale: str | None) -> Gettext:
        language = "zh" if (locale or "").lower().startswith("zh") else "en"
        found = self._loaded.get(language)
        if found is None:
            translations = NullTranslations() if language == "en" or self.directory is None \
                else Translations.load(str(self.directory), [language], domain="messages")
            found = self._loaded[language] = translations.gettext
        return found
