"""Periods are made, parsed and ordered in one module (textmine.core.periods)."""
from textmine.core.periods import ordered_periods, period_parts, period_sort_key, period_year


def test_every_kind_of_period_parses_to_its_year_and_part():
    assert [period_year(p) for p in (2019, "2019-H2", "2019-Q3", "2019-07")] == [2019] * 4
    assert period_parts(2019) == ("2019", None, None) and period_parts("2019.0") == ("2019", None, None)
    assert period_parts("2019-H1") == ("2019", "half", 1) and period_parts("2019-Q4") == ("2019", "quarter", 4)
    assert period_parts("2019-07") == ("2019", "month", 7) and period_parts("전체") == ("전체", None, None)


def test_periods_order_in_time_and_mixed_kinds_keep_their_order():
    assert ordered_periods(["2019-H2", "2019-H1", "2018-H2", "2019-H1"]) == ["2018-H2", "2019-H1", "2019-H2"]
    assert ordered_periods([2016, 2015, 2016]) == [2015, 2016]
    assert ordered_periods([2016, "2015-H1"]) == [2016, "2015-H1"]
    assert sorted(["2019-Q2", 2020, "10", 3], key=period_sort_key) == [3, "10", 2020, "2019-Q2"]
