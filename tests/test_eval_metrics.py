"""nft.eval metrics and table against hand-computed values."""

import math

import numpy as np
import pytest

from nft.eval.metrics import aggregate, bootstrap_ci, default_ks, maj_at_n, normalize_pred, pass_at_k, problem_metrics
from nft.eval.table import PAPER_COLUMNS, PAPER_TABLE1, reference_rows, render_table


@pytest.mark.parametrize(
    "n,c,k,expected",
    [
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
        (5, 2, 3, 0.9),  # 1 - C(3,3)/C(5,3) = 1 - 1/10
        (4, 0, 2, 0.0),
        (4, 4, 1, 1.0),
        (32, 1, 1, 1 / 32),  # pass@1 = c/n
        (3, 1, 3, 1.0),  # n - c < k
        (10, 3, 5, 1 - 21 / 252),  # C(7,5)=21, C(10,5)=252
    ],
)
def test_pass_at_k_hand_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_matches_binomials_and_large_n():
    for n in (1, 7, 16, 64):
        for c in range(n + 1):
            for k in range(1, n + 1):
                exact = 1 - (math.comb(n - c, k) / math.comb(n, k) if n - c >= k else 0.0)
                assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-9)
    assert pass_at_k(1024, 1, 1) == pytest.approx(1 / 1024)


@pytest.mark.parametrize("args", [(4, 5, 1), (4, 1, 5), (4, -1, 1), (0, 0, 1), (4, 1, 0)])
def test_pass_at_k_rejects_bad_arguments(args):
    with pytest.raises(ValueError, match="pass_at_k"):
        pass_at_k(*args)


def test_maj_hand_values():
    # correct class 1 vote, "7" 2 votes -> majority is wrong
    assert maj_at_n([1, 0, 0, 0], ["5", "7", "7", "3"]) == 0.0
    # the two correct answers are one class even with different strings; tie 2:2 -> 1/2
    assert maj_at_n([1, 1, 0, 0], ["5", "5.0", "7", "7"]) == 0.5
    # three-way tie, one correct -> 1/3
    assert maj_at_n([1, 0, 0], ["2", "3", "4"]) == pytest.approx(1 / 3)
    # empty preds abstain
    assert maj_at_n([1, 0, 0], ["5", "", ""]) == 1.0
    assert maj_at_n([0, 0, 0], ["", "", None]) == 0.0
    # equivalent wrong answers written differently are one class after normalisation
    assert maj_at_n([0, 0, 1], ["\\dfrac{1}{2}", "\\frac{1}{2}", "3"]) == 0.0
    assert maj_at_n([1], ["x"]) == 1.0
    with pytest.raises(ValueError, match="preds"):
        maj_at_n([1, 0], ["1"])


def test_normalize_pred():
    assert normalize_pred(" $\\left( 1, 2 \\right)$ ") == "(1,2)"
    assert normalize_pred("\\text{ cm }5.") == "cm5"
    assert normalize_pred(None) == ""


def test_problem_metrics_and_aggregate_hand_values():
    p1 = problem_metrics([1, 0, 0, 0], ["5", "7", "7", "3"])
    p2 = problem_metrics([1, 1, 1, 1], ["5"] * 4)
    assert default_ks(4) == [1, 2, 4]
    assert p1 == {"n": 4, "correct": 1, "avg": 0.25, "maj": 0.0, "pass@1": 0.25, "pass@2": 0.5, "pass@4": 1.0}
    agg = aggregate([p1, p2], n_boot=200, seed=1)
    assert agg["num_problems"] == 2 and agg["n"] == 4 and agg["n_uniform"]
    assert agg["avg@4"]["value"] == pytest.approx(62.5)
    assert agg["pass@1"]["value"] == pytest.approx(62.5)
    assert agg["pass@2"]["value"] == pytest.approx(75.0)
    assert agg["pass@4"]["value"] == pytest.approx(100.0)
    assert agg["maj@4"]["value"] == pytest.approx(50.0)
    lo, hi = agg["avg@4"]["ci95"]
    # resampling two problems: the mean is 25, 62.5 or 100
    assert lo == pytest.approx(25.0) and hi == pytest.approx(100.0)
    assert agg["pass@4"]["ci95"] == [100.0, 100.0]


def test_bootstrap_ci_width_and_determinism():
    x = np.array([0, 1] * 200, dtype=float)
    lo, hi = bootstrap_ci(x, n_boot=2000, seed=0)
    # normal approximation: half-width 1.96 * 0.5 / sqrt(400) = 0.049
    assert 0.5 - 0.06 < lo < 0.5 - 0.04 and 0.5 + 0.04 < hi < 0.5 + 0.06
    assert bootstrap_ci(x, n_boot=2000, seed=0) == (lo, hi)
    assert bootstrap_ci([1.0, 1.0, 1.0]) == (1.0, 1.0)
    with pytest.raises(ValueError, match="empty"):
        bootstrap_ci([])


def test_paper_table_rows_are_consistent():
    # every published avg is the mean of its six cells: cells and avg are each rounded to 0.1,
    # so the mean of the rounded cells may differ by up to 0.05 + 0.05
    assert len(PAPER_TABLE1) == 10
    for size, model, vals, avg in PAPER_TABLE1:
        assert len(vals) == 6
        assert abs(sum(vals) / 6 - avg) <= 0.1 + 1e-9, (size, model)
    assert [r["label"] for r in reference_rows("32B")][0] == "paper: Qwen2.5-32B"
    with pytest.raises(ValueError, match="reference"):
        reference_rows("13B")


def _fake_results(label, values, n=32):
    benches = {}
    for col, v in zip(PAPER_COLUMNS, values):
        name = {"AIME24": "aime24", "MATH500": "math500", "AIME25": "aime25", "AMC23": "amc23",
                "Olympiad": "olympiadbench", "Minerva": "minerva"}[col]
        benches[name] = {"column": col, "headline_metric": f"avg@{n}", "headline": v,
                         "metrics": {f"avg@{n}": {"value": v, "ci95": [v - 1, v + 1]}}}
    return {"label": label, "benchmarks": benches}


def test_render_table_rows_columns_average_and_reference():
    a = _fake_results("step100", [32.0, 83.2, 18.3, 88.5, 47.3, 40.8])
    b = _fake_results("step200", [10.0, 20.0])  # only two benchmarks
    md = render_table([a, b], reference="7B", with_ci=True)
    lines = md.splitlines()
    assert lines[0] == "| model | AIME24 | MATH500 | AIME25 | AMC23 | Olympiad | Minerva | avg |"
    assert lines[2].startswith("| step100 | 32.0 [31.0, 33.0] | 83.2 [82.2, 84.2] |")
    assert lines[2].endswith("| 51.7 |")
    assert lines[3] == "| step200 | 10.0 [9.0, 11.0] | 20.0 [19.0, 21.0] | – | – | – | – | 15.0* |"
    assert "| paper 7B: + NFT | 32.0 | 83.2 | 18.3 | 88.5 | 47.3 | 40.8 | 51.7 |" in lines
    assert sum(1 for ln in lines if ln.startswith("| paper")) == 6
    assert "avg*" in md and "2505.18116" in md
