"""benchmarks/report.py: docs/results.md is generated from the result files, as tables with named columns and
three significant figures; nothing in it is raw JSON."""

from __future__ import annotations

from benchmarks import report


def test_results_doc_is_what_the_report_writes_from_the_files_now():
    assert report.DOC.read_text() == report.render(), "stale docs/results.md: run python -m benchmarks.report"


def test_numbers_have_three_significant_figures_and_no_json_reaches_a_table():
    assert report.fmt(2.6185702540005877) == "2.62"
    assert report.fmt(1097.8) == "1,100" and report.fmt(0.000442442) == "0.000442"
    assert report.fmt({"a": 1}) == "1 fields" and report.fmt([0.1167, 0.1138]) == "0.117, 0.114"
    text = report.render()
    assert "{" not in text and '":' not in text


def test_nested_results_become_tables_with_named_columns():
    lines = report.result_section("x", {"date": "2026-12-02", "median": {"a_s": 1.0, "b_s": 2.0},
                                        "other_median": {"a_s": 2.0, "b_s": 4.0},
                                        "summary": {"fp32": {"err": 0.1}, "bf16": {"err": 0.2}}, "runs": [1, 2]})
    assert "| measure | median | other_median |" in lines
    assert "| a_s | 1 | 2 |" in lines and "|  | err |" in lines and "| bf16 | 0.2 |" in lines
    assert any("`runs` (2)" in line for line in lines)
