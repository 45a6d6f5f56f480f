"""Migrating running instances to another version of their process (designers, admins)."""
from __future__ import annotations

from services.errors import InvalidInput
from services.workflow import migration

from . import actor, bp, store
from .contract import operation
from .schemas import MigrationPlan, MigrationProgress, MigrationRequest


@bp.post("/migrations")
@operation({200: MigrationPlan, 202: MigrationProgress}, body=MigrationRequest,
           problems=(403, 404, 422))
def migrate(body: dict):
    """With "dry_run": true (the default), the plan: per instance, its active elements
    mapped by id or by `mapping`, those that cannot be (the instance is then left out),
    open tasks whose department, form or deadline changes, timers planned again; and the
    diff of duties. With "dry_run": false, record the migration and run it in the
    background, in batches (202; progress at GET /migrations/{id})."""
    args = (body["process_key"], body["from_version"], body["to_version"], body["mapping"],
            body.get("instance_ids"))
    if body["dry_run"]:
        with store().reading() as uow:
            return migration.plan(uow, actor(), *args)
    if not body.get("reason"):
        raise InvalidInput("a reason is required: say why",
                           {"reason": ["Required when dry_run is false."]})
    with store().writing() as uow:
        row = migration.create(uow, actor(), body["process_key"], body["from_version"],
                               body["to_version"], body["reason"], body["mapping"],
                               body.get("instance_ids"))
        migration_id = row.id
    migration.run_in_background(store(), migration_id)
    return _progress(migration_id), 202


@bp.get("/migrations/<int:migration_id>")
@operation({200: MigrationProgress}, problems=(403, 404))
def get_migration(migration_id: int):
    """A migration's progress: how many instances are migrated, pending, left out (with
    the reasons) or skipped."""
    return _progress(migration_id)


@bp.post("/migrations/<int:migration_id>/resume")
@operation({202: MigrationProgress}, problems=(403, 404, 409))
def resume_migration(migration_id: int):
    """Run on a migration that was stopped (a crash, a restart): its pending instances
    only; none is ever migrated twice. 409 once it is completed."""
    with store().reading() as uow:
        migration.resumable(uow, actor(), migration_id)
    migration.run_in_background(store(), migration_id)
    return _progress(migration_id), 202


def _progress(migration_id: int) -> dict:
    with store().reading() as uow:
        return migration.progress(uow, migration.get(uow, actor(), migration_id))
