"""``python -m nft.eval score --grader nft,authors,math-verify``: one column per grader."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from nft.eval.__main__ import main
from nft.eval.score import parse_graders, render_grader_table

# Responses where the graders disagree (see tests/test_reward_authors.py for the per-grader reasons).
ROWS = [
    # AIME25 in the authors' boxed format: strict box (verbatim, last 100 characters) for "authors"
    {"data_source": "aime_2025_dapo_boxed", "prompt": [{"role": "user", "content": "q1"}],
     "reward_model": {"ground_truth": "1000"},
     "responses": ["So the count is \\boxed{1000}.",  # all three right
                   "So the count is \\boxed{1,000}.",  # nft and math-verify right, authors (verbatim) wrong
                   "So the count is \\boxed{999}."]},  # all wrong
    # MATH-500: math-verify over the whole response for "authors" and "math-verify"
    {"data_source": "math500", "prompt": [{"role": "user", "content": "q2"}],
     "reward_model": {"ground_truth": "\\frac{1}{3^{50}}"},
     "responses": ["The probability is $\\boxed{\\frac{1}{3^{51}}}$."]},  # math-verify's false positive
    {"data_source": "math500", "prompt": [{"role": "user", "content": "q3"}],
     "reward_model": {"ground_truth": "\\frac{1}{2}"},
     "responses": ["The ratio is $\\boxed{0.5}$."]},  # all right
]
# headline avg@n per grader: aime25 avg@3 of one problem; math500 avg@1 over two problems
EXPECTED = {"nft": (200 / 3, 50.0), "authors": (100 / 3, 100.0), "math-verify": (200 / 3, 100.0)}


def _write(path, rows):
    pd.DataFrame(rows).to_parquet(path)
    return str(path)


def test_score_reports_one_column_per_grader(tmp_path, capsys):
    path = _write(tmp_path / "gen.parquet", ROWS)
    out = tmp_path / "out"
    assert main(["score", "--responses", path, "--output", str(out), "--no-progress",
                 "--grader", "nft,authors,math-verify"]) == 0
    res = {g: json.loads((out / name).read_text()) for g, name in
           [("nft", "results.json"), ("authors", "results_authors.json"), ("math-verify", "results_math-verify.json")]}
    for g, (aime, math500) in EXPECTED.items():
        assert res[g]["grader"] == g
        assert res[g]["benchmarks"]["aime25"]["headline"] == pytest.approx(aime), g
        assert res[g]["benchmarks"]["math500"]["headline"] == pytest.approx(math500), g
    table = (out / "graders.md").read_text()
    assert table.splitlines()[0] == "| benchmark | metric | nft | authors | math-verify |"
    assert "| AIME25 | avg@3 | 66.7 | 33.3 | 66.7 |" in table
    assert "| MATH500 | avg@1 | 50.0 | 100.0 | 100.0 |" in table
    assert table in capsys.readouterr().out
    # the per-grader scores are cached separately: a second run rescoring nothing gives the same table
    assert main(["score", "--responses", path, "--output", str(out), "--no-progress",
                 "--grader", "nft,authors,math-verify"]) == 0
    assert (out / "graders.md").read_text() == table


def test_default_grader_is_unchanged(tmp_path):
    path = _write(tmp_path / "gen.parquet", ROWS)
    assert main(["score", "--responses", path, "--output", str(tmp_path / "a"), "--no-progress"]) == 0
    assert main(["score", "--responses", path, "--output", str(tmp_path / "b"), "--no-progress", "--grader", "nft"]) == 0
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    assert a["benchmarks"] == b["benchmarks"]
    assert not (tmp_path / "a" / "graders.md").exists()


@pytest.mark.parametrize("spec", ["nft,bogus", "", "nft,,authors"])
def test_bad_grader_is_refused_naming_the_option(tmp_path, capsys, spec):
    path = _write(tmp_path / "gen.parquet", ROWS)
    assert main(["score", "--responses", path, "--output", str(tmp_path / "o"), "--grader", spec]) == 2
    assert "--grader" in capsys.readouterr().err


def test_parse_graders():
    assert parse_graders("nft, authors ,math_verify,nft") == ["nft", "authors", "math-verify"]
    with pytest.raises(ValueError, match="--grader"):
        parse_graders("nft,xyz")


def test_render_grader_table_marks_missing_benchmarks():
    a = {"benchmarks": {"math500": {"column": "MATH500", "headline_metric": "avg@1", "headline": 50.0}}, "average": 50.0}
    b = {"benchmarks": {}, "average": 0.0}
    t = render_grader_table({"nft": a, "authors": b})
    assert "| MATH500 | avg@1 | 50.0 | - |" in t and "| avg | | 50.0 | 0.0 |" in t
