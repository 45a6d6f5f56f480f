"""A department as its reader names it: the one rule the pages, the payslip PDF, the page
header and the notifications follow.

A department has one name of its own, the org file's `name` (质量部), written for readers
of Chinese; nobody keeps an English one. So a reader of Chinese reads the department's
own name; anyone else reads the name its lane was drawn under in the diagram (a task's
`lane`), else its key (`qa`). Without its own name (a key no department has), a reader of
Chinese falls back the same way. The API keeps keys and names as they are.

Any tag of Chinese counts (`zh`, `zh-CN`, `zh_Hans`, `ZH-cn`): the pages' Babel locale is
`zh`, an account's locale and Accept-Language may carry a region or script.
"""
from __future__ import annotations

from sqlalchemy import select

from engine.labels import language_tag
from services.persistence.models import Department
from services.persistence.unit_of_work import UnitOfWork


def reads_chinese(locale: str | None) -> bool:
    return bool(locale) and language_tag(locale).split("-")[0] == "zh"


def department_in_language(key: str | None, own_name: str | None, locale: str | None,
                           drawn: str | None = None) -> str:
    """`key`'s department for a reader of `locale`: see the module. `own_name`: the
    department's (None when it has none); `drawn`: the lane its task was drawn in."""
    if not key:
        return drawn or ""
    if reads_chinese(locale):
        return own_name or drawn or key
    return drawn or key


def own_names(uow: UnitOfWork) -> dict[str, str]:
    """Every department's own name by key, deactivated ones too: history, payroll lines
    and escalations still name departments a reorganisation has since closed."""
    return dict(uow.session.execute(select(Department.key, Department.name)).all())


def own_name(uow: UnitOfWork, key: str | None) -> str | None:
    """One department's own name (a page header, a notification's payload); None for no
    key or a key no department has."""
    if not key:
        return None
    return uow.session.scalar(select(Department.name).where(Department.key == key))
