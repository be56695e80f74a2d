"""Outcome row checks (pure): labels, ids, dates, repeated ids, quarantine fingerprints."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from src.data.outcome_rows import check_outcome_rows, with_fingerprints


def check(rows: list[tuple[object, object, object]], **kwargs: object):
    frame = pd.DataFrame(rows, columns=["app", "status", "closed"], dtype=object)
    options = {"id_column": "app", "target": "status", "positive": "bad"} | kwargs
    return check_outcome_rows(frame, **options)  # type: ignore[arg-type]


def test_positive_value_is_one_any_other_value_zero() -> None:
    checked = check([("A1", "bad", None), ("A2", "good", None), ("A3", "charged off", None)])
    assert [(o.application_id, o.label, o.raw_label) for o in checked.outcomes] == [
        ("A1", 1, "bad"),
        ("A2", 0, "good"),
        ("A3", 0, "charged off"),
    ]
    assert checked.rejected == []


def test_numeric_labels_compare_as_text() -> None:
    frame = pd.DataFrame({"app": ["A1", "A2", "A3"], "y": [1.0, 0.0, 1.0]})
    checked = check_outcome_rows(frame, id_column="app", target="y", positive="1")
    assert [o.label for o in checked.outcomes] == [1, 0, 1]


def test_row_problems_are_quarantined_naming_the_column() -> None:
    checked = check(
        [
            (None, "bad", None),
            ("", "bad", None),
            ("x" * 65, "bad", None),
            ("tab\there", "bad", None),
            ("A5", None, None),
            ("A6", "bad", "31/12/2024"),
            ("A7", "bad", "2024-12-31"),
            ("A8", "bad", "2024-12-31T10:00:00+02:00"),
        ],
        date_column="closed",
    )
    reasons = {r.kind: r.reason for r in checked.rejected}
    assert [r.kind for r in checked.rejected] == [
        "missing_id",
        "missing_id",
        "invalid_id",
        "invalid_id",
        "missing_label",
        "invalid_date",
    ]
    assert "column 'app'" in reasons["missing_id"]
    too_long, control = (r.reason for r in checked.rejected if r.kind == "invalid_id")
    assert "column 'app' is 65 characters long" in too_long
    assert "column 'app' contains a control character" in control
    assert reasons["missing_label"] == "missing label in column 'status'"
    assert "'31/12/2024' in column 'closed'" in reasons["invalid_date"]
    assert [(o.application_id, o.outcome_date) for o in checked.outcomes] == [
        ("A7", dt.date(2024, 12, 31)),
        ("A8", dt.date(2024, 12, 31)),
    ]
    assert checked.rejected[2].application_id is None  # too long for the indexed column
    assert checked.rejected[2].record["app"] == "x" * 65  # but kept in the record


def test_repeated_id_with_the_same_label_counts_once() -> None:
    checked = check([("A1", "bad", None), ("A1", "bad", None), ("A2", "good", None)])
    assert [o.application_id for o in checked.outcomes] == ["A1", "A2"]
    assert checked.repeated == 1 and checked.rejected == []


def test_repeated_id_with_different_labels_quarantines_all_its_rows() -> None:
    checked = check([("A1", "bad", None), ("A2", "good", None), ("A1", "good", None)])
    assert [o.application_id for o in checked.outcomes] == ["A2"]
    assert [(r.application_id, r.kind) for r in checked.rejected] == [
        ("A1", "conflicting_labels_in_input"),
        ("A1", "conflicting_labels_in_input"),
    ]
    assert "appears 2 times" in checked.rejected[0].reason
    assert "['bad', 'good']" in checked.rejected[0].reason


def test_fingerprints_are_stable_and_tell_identical_rows_apart() -> None:
    rows = [(None, "bad", None), (None, "bad", None), (None, "good", None)]
    first = [fp for _, fp in with_fingerprints(check(rows).rejected)]
    again = [fp for _, fp in with_fingerprints(check(rows).rejected)]
    assert first == again
    assert len(set(first)) == 3
