"""The designer's migration of running instances: the preview (a diff of duties, and per
instance what maps and what is left out), the confirmation, then the progress."""
from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for

from services.errors import InvalidInput, NotFound
from services.workflow import definitions, migration

from . import bp, page_actor, page_labels, signed_in, store


def _require_migrator() -> None:
    page_actor().require("designer", "admin")  # PermissionDenied -> 403


def _mapping(text: str) -> tuple[dict[str, str], list[str]]:
    """`old=new` lines (or commas) into a mapping, and the lines that are not pairs."""
    mapping, bad = {}, []
    for part in text.replace(",", "\n").splitlines():
        if not part.strip():
            continue
        old, equals, new = part.partition("=")
        if not equals or not old.strip() or not new.strip():
            bad.append(part.strip())
        else:
            mapping[old.strip()] = new.strip()
    return mapping, bad


def _versions(key: str) -> list[int]:
    with store().reading() as uow:
        found = sorted((d.version for d in definitions.list_versions(uow) if d.key == key),
                       reverse=True)
    if not found:
        abort(404)
    return found


def _choice(values: dict, versions: list[int]) -> dict:
    """The form as chosen, defaulting to the previous version -> the latest."""
    latest = versions[0]
    return {"from": values.get("from", type=int) or (versions[1] if len(versions) > 1
                                                      else latest),
            "to": values.get("to", type=int) or latest,
            "mapping": values.get("mapping", ""), "reason": values.get("reason", "")}


def _page(key: str, choice: dict, versions: list[int], plan: dict | None, errors: dict,
          status: int = 200):
    with store().reading() as uow:
        labels = page_labels(uow, all_processes=False)
    return render_template("migration.html", key=key, choice=choice, versions=versions,
                           plan=plan, errors=errors, labels=labels), status


def _plan(key: str, choice: dict) -> tuple[dict | None, dict]:
    mapping, bad = _mapping(choice["mapping"])
    if bad:
        return None, {"mapping": [f"{line}: OLD=NEW" for line in bad]}
    try:
        with store().reading() as uow:
            return migration.plan(uow, page_actor(), key, choice["from"], choice["to"],
                                  mapping), {}
    except InvalidInput as err:
        return None, _flat(err.errors)


def _flat(errors) -> dict:
    if not isinstance(errors, dict):
        return {"_schema": [str(errors)]}
    return {field: [f"{name}: {' '.join(lines)}" for name, lines in messages.items()]
            if isinstance(messages, dict) else messages for field, messages in errors.items()}


@bp.get("/designer/processes/<key>/migrate")
@signed_in
def migration_preview(key: str):
    """The form, and with ?preview=1 the plan of the chosen versions and mapping."""
    _require_migrator()
    versions = _versions(key)
    choice = _choice(request.args, versions)
    if not request.args.get("preview"):
        return _page(key, choice, versions, None, {})
    plan, errors = _plan(key, choice)
    return _page(key, choice, versions, plan, errors, 422 if errors else 200)


@bp.post("/designer/processes/<key>/migrate")
@signed_in
def migration_run(key: str):
    """Confirmed: record the migration, run it in the background, show its progress."""
    _require_migrator()
    versions = _versions(key)
    choice = _choice(request.form, versions)
    mapping, bad = _mapping(choice["mapping"])
    if bad:
        plan, errors = _plan(key, choice)
        return _page(key, choice, versions, plan, errors, 422)
    try:
        with store().writing() as uow:
            migration_id = migration.create(uow, page_actor(), key, choice["from"],
                                            choice["to"], choice["reason"], mapping).id
    except InvalidInput as err:
        plan, _errors = _plan(key, choice)
        return _page(key, choice, versions, plan, _flat(err.errors), 422)
    migration.run_in_background(store(), migration_id)
    return redirect(url_for("pages.migration_progress", migration_id=migration_id))


@bp.get("/designer/migrations/<int:migration_id>")
@signed_in
def migration_progress(migration_id: int):
    _require_migrator()
    with store().reading() as uow:
        try:
            view = migration.progress(uow, migration.get(uow, page_actor(), migration_id))
        except NotFound:
            abort(404)
    return render_template("migration_progress.html", migration=view)


@bp.post("/designer/migrations/<int:migration_id>/resume")
@signed_in
def migration_resume(migration_id: int):
    _require_migrator()
    with store().reading() as uow:
        try:
            migration.resumable(uow, page_actor(), migration_id)
        except NotFound:
            abort(404)
    migration.run_in_background(store(), migration_id)
    return redirect(url_for("pages.migration_progress", migration_id=migration_id))
