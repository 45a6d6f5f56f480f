"""Scoring and money rules, by hand-computed examples and by property."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from payroll.money import money
from payroll.periods import Period, PeriodError
from payroll.schemes import SchemeError, parse_scheme
from payroll.scoring import bonus, score_kpi

QA_SCHEME = {"indicators": [
    {"metric": "field_rate", "weight": 50, "target": "0.9", "task": "inspect_goods",
     "field": "result", "value": "pass"},
    {"metric": "on_time_rate", "weight": 30, "target": 1},
    {"metric": "avg_handling_hours", "weight": 20, "target": 2}]}


def test_hand_computed_kpi():
    scheme = parse_scheme(QA_SCHEME)
    keys = [indicator.key for indicator in scheme.indicators]
    result = score_kpi(scheme, {keys[0]: Decimal(3) / 4, keys[1]: Decimal(3) / 4,
                                keys[2]: Decimal(11) / 4})
    assert [str(r.score) for r in result.indicators] == ["0.8333", "0.7500", "0.7273"]
    assert str(result.kpi_score) == "0.7871"
    assert bonus(Decimal("2000.00"), result.kpi_score) == Decimal("1574.20")


def test_not_applicable_indicators_are_left_out_not_zero():
    scheme = parse_scheme(QA_SCHEME)
    keys = [indicator.key for indicator in scheme.indicators]
    result = score_kpi(scheme, {keys[0]: Decimal("0.9")})  # only the field rate has data
    assert [r.applicable for r in result.indicators] == [True, False, False]
    assert str(result.kpi_score) == "1.0000"
    empty = score_kpi(scheme, {})
    assert str(empty.kpi_score) == "0.0000" and empty.flags == ("no_applicable_indicator",)


def test_counts_are_zero_not_missing_and_scores_are_capped():
    scheme = parse_scheme({"cap": "1.5", "indicators": [
        {"metric": "completed_count", "weight": 100, "target": 10, "task": "inspect_goods"}]})
    key = scheme.indicators[0].key
    assert str(score_kpi(scheme, {}).kpi_score) == "0.0000"
    assert str(score_kpi(scheme, {key: Decimal(40)}).kpi_score) == "1.5000"
    default_cap = parse_scheme({"indicators": [{"metric": "completed_count", "weight": 100,
                                                "target": 1}]})
    assert str(score_kpi(default_cap, {default_cap.indicators[0].key: Decimal(9)}).kpi_score) == "1.2000"


def test_lower_is_better_with_zero_hours_gets_the_cap():
    scheme = parse_scheme({"indicators": [{"metric": "avg_handling_hours", "weight": 100, "target": 4}]})
    assert str(score_kpi(scheme, {scheme.indicators[0].key: Decimal(0)}).kpi_score) == "1.2000"
    assert str(score_kpi(scheme, {scheme.indicators[0].key: Decimal(8)}).kpi_score) == "0.5000"


@pytest.mark.parametrize("amount,expected", [("50.005", "50.01"), ("50.004", "50.00"),
                                             ("2.345", "2.35"), ("-2.345", "-2.35"),
                                             ("0.125", "0.13")])
def test_money_rounds_half_up(amount, expected):
    assert money(Decimal(amount)) == Decimal(expected)


def test_bonus_rounding_edge():
    assert bonus(Decimal("1000.10"), Decimal("0.0500")) == Decimal("50.01")  # 50.005


@pytest.mark.parametrize("document,path", [
    ({"indicators": [{"metric": "on_time_rate", "weight": 60, "target": 1}]}, "indicators"),
    ({"indicators": [{"metric": "speed", "weight": 100, "target": 1}]}, "indicators[0].metric"),
    ({"indicators": [{"metric": "field_rate", "weight": 100, "target": 1, "task": "t"}]},
     "indicators[0].field"),
    ({"indicators": [{"metric": "on_time_rate", "weight": 100, "target": 0}]}, "indicators[0].target"),
    ({"indicators": [{"metric": "on_time_rate", "weight": 100, "target": 1, "task": "x"}]},
     "indicators[0].task"),
    ({"cap": -1, "indicators": [{"metric": "on_time_rate", "weight": 100, "target": 1}]}, "cap"),
    ({"indicators": []}, "indicators"),
    ({**QA_SCHEME, "effective_from": "2026-13"}, "effective_from"),
    ({**QA_SCHEME, "effective_from": 202611}, "effective_from"),
])
def test_scheme_validation_names_the_problem(document, path):
    with pytest.raises(SchemeError) as caught:
        parse_scheme(document)
    assert path in caught.value.errors


def test_a_dated_scheme_keeps_its_date():
    assert "effective_from" not in parse_scheme(QA_SCHEME).as_dict()
    assert parse_scheme({**QA_SCHEME, "effective_from": "2027-01"}).as_dict()["effective_from"] == \
        "2027-01"


def test_periods():
    october = Period.parse("2026-10", "Asia/Shanghai")
    assert october.start.isoformat() == "2026-09-30T16:00:00+00:00"
    assert october.end == Period.parse("2026-11", "Asia/Shanghai").start
    assert str(Period.parse("2026-12").next()) == "2027-01"
    for bad in ("2026-13", "26-01", "2026-1", ""):
        with pytest.raises(PeriodError):
            Period.parse(bad)
    for out_of_range in ("0000-03", "0001-01", "9999-12"):  # no valid UTC boundary
        with pytest.raises(PeriodError, match="out of range"):
            Period.parse(out_of_range, "Pacific/Kiritimati")
    for zone in ("Pacific/Kiritimati", "Pacific/Niue"):  # UTC+14 and UTC-11
        assert Period.parse("9998-12", zone).end.year in (9998, 9999)
        assert Period.parse("1900-01", zone).start.year in (1899, 1900)


rates = st.one_of(st.none(), st.decimals(min_value=0, max_value=1000, places=4))


@given(actuals=st.lists(rates, min_size=3, max_size=3),
       cap=st.decimals(min_value=Decimal("0.5"), max_value=3, places=2))
def test_kpi_score_stays_within_zero_and_cap(actuals, cap):
    scheme = parse_scheme({**QA_SCHEME, "cap": str(cap)})
    result = score_kpi(scheme, {i.key: a for i, a in zip(scheme.indicators, actuals)})
    assert Decimal(0) <= result.kpi_score <= cap
    for indicator in result.indicators:
        assert indicator.score is None or Decimal(0) <= indicator.score <= cap



@pytest.mark.parametrize("indicator,path,message", [
    ({"metric": "on_time_rate", "weight": 100, "target": 1, "colour": "red"},
     "indicators[0].colour", "Unknown field."),
    ({"metric": "on_time_rate", "weight": [100], "target": 1},
     "indicators[0].weight", "Must be a number above 0 and at most 100."),
    ({"metric": "on_time_rate", "weight": 100}, "indicators[0].target", "Must be a positive number."),
])
def test_unknown_wrong_and_missing_fields_are_named_by_path(indicator, path, message):
    with pytest.raises(SchemeError) as caught:
        parse_scheme({"indicators": [indicator]})
    assert caught.value.errors == {path: [message]}
