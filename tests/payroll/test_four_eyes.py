"""Four eyes on pay: a run prepared or recalculated by one HR user is approved by another
before it is finalised; every step is in the audit trail."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from services.errors import Conflict, InvalidInput, PermissionDenied
from services.pay import payroll_runs
from services.persistence.models import AuditEntry
from tests.payroll.test_payroll_runs import actor, approve, october  # noqa: F401 (fixture)


def _trail(store, run_id):
    with store.reading() as uow:
        return [(entry.actor, entry.action, entry.new) for entry in uow.session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "payroll_run",
                                     AuditEntry.entity_key == str(run_id))
            .order_by(AuditEntry.id))]


def test_the_preparer_cannot_approve_and_a_recalculation_clears_the_approval(october):
    store, hr, _ = october
    second = actor(store, "qian.hr")
    with store.writing() as uow:
        run_id = payroll_runs.create_run(uow, hr, "2026-10", "UTC").id
    for review in (lambda uow: payroll_runs.approve(uow, hr, run_id),
                   lambda uow: payroll_runs.reject(uow, hr, run_id, "mine")):
        with pytest.raises(PermissionDenied, match="another HR user"):
            with store.writing() as uow:
                review(uow)
    with pytest.raises(PermissionDenied):  # staff never review pay
        with store.writing() as uow:
            payroll_runs.approve(uow, actor(store, "li.qa"), run_id)
    with pytest.raises(Conflict, match="not approved"):
        with store.writing() as uow:
            payroll_runs.finalize(uow, hr, run_id)

    with pytest.raises(InvalidInput, match="say why"):
        with store.writing() as uow:
            payroll_runs.reject(uow, second, run_id, "   ")
    with store.writing() as uow:
        rejected = payroll_runs.reject(uow, second, run_id, "QA bonus looks high")
        assert (rejected.rejected_by, rejected.rejection_reason) == ("qian.hr",
                                                                      "QA bonus looks high")
    with pytest.raises(Conflict, match="not approved"):
        with store.writing() as uow:
            payroll_runs.finalize(uow, hr, run_id)
    approve(store, run_id)
    with pytest.raises(Conflict, match="already approved by qian.hr"):
        approve(store, run_id)

    # qian.hr recalculates: the approval is gone, and qian.hr is now the preparer
    with store.writing() as uow:
        again = payroll_runs.recalculate(uow, second, run_id, "UTC")
        assert (again.prepared_by, again.approved_by, again.rejected_by) == ("qian.hr", None, None)
    with pytest.raises(Conflict, match="not approved"):
        with store.writing() as uow:
            payroll_runs.finalize(uow, hr, run_id)
    with pytest.raises(PermissionDenied):
        approve(store, run_id)  # qian.hr prepared it this time
    approve(store, run_id, "zhao.hr")
    with store.writing() as uow:
        final = payroll_runs.finalize(uow, second, run_id)
        assert (final.status, final.approved_by, final.finalized_by) == ("final", "zhao.hr",
                                                                         "qian.hr")
    with pytest.raises(Conflict, match="final"):
        approve(store, run_id, "admin")

    trail = _trail(store, run_id)
    assert [(who, action) for who, action, _ in trail] == [
        ("zhao.hr", "created"), ("qian.hr", "rejected"), ("qian.hr", "approved"),
        ("qian.hr", "recalculated"), ("zhao.hr", "approved"), ("qian.hr", "finalized")]
    assert trail[1][2]["rejection_reason"] == "QA bonus looks high"
    assert trail[3][2]["approval_cleared"] == "qian.hr"
    with store.reading() as uow:
        view = payroll_runs.run_view(uow, payroll_runs.get_run(uow, hr, run_id))
    assert (view["prepared_by"], view["approved_by"], view["finalized_by"]) == (
        "qian.hr", "zhao.hr", "qian.hr")
