"""benchmarks.tuning's verdict: no false alarms to remove is said so, never counted as a success or divided by."""

from benchmarks.tuning import removed_text, verdict


def test_no_false_alarms_under_the_defaults_is_not_a_success():
    assert removed_text({"false_alarms": 0}, {"false_alarms": 0}) == "none to remove"
    assert verdict({"false_alarms": 0, "caught": 7}, {"false_alarms": 0, "caught": 7}).startswith("not applicable")


def test_the_target_needs_half_removed_and_the_same_sensitivity():
    assert verdict({"false_alarms": 10, "caught": 7}, {"false_alarms": 5, "caught": 7}).startswith("met")
    assert "fewer than half" in verdict({"false_alarms": 10, "caught": 7}, {"false_alarms": 6, "caught": 7})
    assert "sensitivity lost" in verdict({"false_alarms": 10, "caught": 7}, {"false_alarms": 2, "caught": 6})
    assert removed_text({"false_alarms": 4}, {"false_alarms": 5}) == "1 added"
    assert removed_text({"false_alarms": 16}, {"false_alarms": 13}) == "19% removed"
