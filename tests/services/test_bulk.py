"""insert_rows: COPY on PostgreSQL, executemany elsewhere; either way the rows read back
exactly as the ORM would have written them, in the unit of work's transaction."""
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.persistence.bulk import insert_rows
from services.persistence.models import PayrollLine, PayrollRun

AWKWARD = 'tab\there, new\nline, back\\slash, "quoted", 质量部'


def _line(run_id: int, username: str, **overrides):
    row = dict(run_id=run_id, username=username, department_key="质量部", scheme_version=None,
               base_salary=Decimal("5000.00"), bonus_base=Decimal("1000.00"),
               kpi_score=Decimal("0.8505"), bonus=Decimal("850.50"), adjustments=Decimal("-0.01"),
               gross=Decimal("5850.49"),
               indicators=[{"metric": "field_rate", "value": AWKWARD, "actual": None,
                            "applicable": False}],
               flags=[])
    row.update(overrides)
    return row


def _new_run(store, period: str) -> int:
    with store.writing() as uow:
        run = PayrollRun(period=period, status="draft", created_by="hr")
        uow.session.add(run)
        uow.commit()
        return run.id


def test_rows_read_back_exactly(store):
    run_id = _new_run(store, "2026-01")
    rows = [_line(run_id, "li.lei"), _line(run_id, AWKWARD[:64], scheme_version=3, flags=["x"]),
            _line(run_id, "none", indicators=None)]
    with store.writing() as uow:
        insert_rows(uow, PayrollLine.__table__, rows)
        uow.commit()
    with store.reading() as uow:
        stored = {line.username: line for line in uow.session.scalars(select(PayrollLine))}
    assert set(stored) == {row["username"] for row in rows}
    for row in rows:
        line = stored[row["username"]]
        for name, value in row.items():
            assert getattr(line, name) == value, name


def test_rows_are_part_of_the_transaction(store):
    run_id = _new_run(store, "2026-02")
    with pytest.raises(RuntimeError):
        with store.writing() as uow:
            insert_rows(uow, PayrollLine.__table__, [_line(run_id, "wang.fang")])
            raise RuntimeError("the use case fails after writing")
    with store.reading() as uow:
        assert uow.session.scalar(select(func.count()).select_from(PayrollLine)) == 0


def test_no_rows_is_nothing_to_do(store):
    with store.writing() as uow:
        insert_rows(uow, PayrollLine.__table__, [])
        uow.commit()
    with store.reading() as uow:
        assert uow.session.scalar(select(func.count()).select_from(PayrollLine)) == 0
