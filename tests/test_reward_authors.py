"""``grader="authors"``: the NFT authors' training reward, on hand-written cases where it and the default
grader disagree (and a few where they agree).

Their routing (NVlabs/NFT ``verifier.py::_default_compute_score``, verl pinned at 01ef718):
``math_dapo`` -> ``math_dapo.compute_score`` (``Answer:`` line in the last 300 characters, Minerva
normalisation, string equality); ``*_dapo_boxed`` -> the same with ``strict_box_verify=True`` (last
``\\boxed{`` in the last 100 characters, verbatim); MATH-style sources -> math-verify's ``math_metric``
over the whole response. References:

* math-verify rows: the authors' exact call (``math_metric`` with their extraction targets, gold wrapped
  in ``\\boxed{}``, bare ``try/except``) made here in the main thread, where its ``signal`` timeouts work;
* strict-box rows: verl 0.9.1's installed ``math_dapo.compute_score(..., strict_box_verify=True)`` (that
  path is unchanged since the pinned commit);
* Minerva rows with an ``Answer:`` line: verl 0.9.1's ``math_dapo.compute_score`` (unchanged path); rows
  without one: the pinned commit returns -1 (verl 0.9.1 later added a fallback to the last box, which
  the authors' code did not have), written out as the expected value.
"""

from __future__ import annotations

import pytest

from nft.reward import compute_score, score_batch
from nft.reward.authors import minerva_normalize, route

LONG = "We expand, collect terms and check each case carefully. " * 8  # > 300 characters

# (data_source, response, ground truth, expected authors score, expected nft score)
DISAGREE = [
    # Minerva (math_dapo): strings after normalisation
    ("math_dapo", "Compute the ratio.\nAnswer: \\frac{1}{2}", "0.5", -1.0, 1.0),
    ("math_dapo", "Compute the ratio.\nAnswer: 0.50", "0.5", -1.0, 1.0),
    ("math_dapo", "Thus the total is \\boxed{42}.", "42", -1.0, 1.0),  # no Answer: line
    ("math_dapo", "Answer: 42\n" + LONG, "42", -1.0, 1.0),  # the line is not in the last 300 characters
    ("math_dapo", "Counting gives 12.\nAnswer: There are 12 ways.", "12", -1.0, 1.0),
    ("math_dapo", "So\nAnswer: 7 feet 2 inches", "72", 1.0, -1.0),  # units dropped, digits glued
    ("math_dapo", "So\nAnswer: x = 2 or x = 3", "3", 1.0, -1.0),  # keeps what follows the last '='
    # strict box (math_dapo_boxed and the AIME/AMC boxed sets): verbatim content of the last box in the tail
    ("math_dapo_boxed", "The ratio is \\boxed{\\frac12}.", "\\frac{1}{2}", -1.0, 1.0),
    ("math_dapo_boxed", "The ratio is \\boxed{ 42 }.", "42", -1.0, 1.0),
    ("aime_2025_dapo_boxed", "The count is \\boxed{42}.\n" + "Let me double check the count once more. " * 4, "42", -1.0, 1.0),
    ("amc2023_dapo_boxed", "The count is \\boxed{1,000}.", "1000", -1.0, 1.0),
    ("amc_dapo_boxed", "The answer is \\fbox{42}.", "42", -1.0, 1.0),
    # math-verify over the whole response
    ("math500", "So the probability is $\\boxed{\\frac{1}{3^{51}}}$.", "\\frac{1}{3^{50}}", 1.0, -1.0),
    ("math500", "The answer is $\\boxed{0.666667}$.", "\\frac{2}{3}", 1.0, -1.0),
    ("olympiadbench", "We find 12 after simplification, and then we stop here without", "12", 1.0, -1.0),
    ("minerva_math", "The time is $\\boxed{7 \\text{ feet } 2 \\text{ inches}}$.", "7", 1.0, -1.0),
]
AGREE = [
    ("math_dapo", "Adding up.\nAnswer: 1,000", "1000", 1.0, 1.0),
    ("math_dapo", "Adding up.\nAnswer: $\\frac{3}{4}$", "\\frac{3}{4}", 1.0, 1.0),
    ("math_dapo", "Adding up.\nAnswer: 41", "42", -1.0, -1.0),
    ("math_dapo_boxed", "Hence $\\boxed{42}$.", "42", 1.0, 1.0),
    ("math_dapo_boxed", "Hence $\\boxed{43}$.", "42", -1.0, -1.0),
    ("math_dapo_boxed", "First \\boxed{41}, but then \\boxed{4", "41", -1.0, -1.0),  # the final box never closes
    ("math500", "Hence $\\boxed{\\frac{\\sqrt{2}}{2}}$.", "\\frac{1}{\\sqrt{2}}", 1.0, 1.0),
    ("math500", "Hence $\\boxed{5}$.", "6", -1.0, -1.0),
]


def _authors_math_verify(response: str, gt: str) -> float:
    """The authors' verifier.py::math_verify_compute_score, called as their trainer did (main thread)."""
    from math_verify.metric import math_metric
    from math_verify.parser import ExprExtractionConfig, LatexExtractionConfig

    verify_func = math_metric(
        gold_extraction_target=(LatexExtractionConfig(),),
        pred_extraction_target=(ExprExtractionConfig(), LatexExtractionConfig()),
    )
    score = 0.0
    try:
        score, _ = verify_func(["\\boxed{" + gt + "}"], [response])
    except Exception:
        pass
    return 1.0 if score > 0.5 else -1.0


def _verl_math_dapo(response: str, gt: str, strict: bool) -> float:
    from verl.utils.reward_score import math_dapo

    return float(math_dapo.compute_score(response, gt, strict_box_verify=strict)["score"])


@pytest.mark.parametrize("case", DISAGREE + AGREE, ids=lambda c: f"{c[0]}:{c[1][-30:]!r}")
def test_authors_grader_matches_their_code(case):
    ds, response, gt, want_authors, want_nft = case
    got = compute_score(ds, response, gt, grader="authors", timeout=10.0)
    assert got["score"] == want_authors, got
    assert compute_score(ds, response, gt, timeout=10.0)["score"] == want_nft  # the default is ours
    r = route(ds)
    if r == "math_verify":
        assert _authors_math_verify(response, gt) == want_authors
        assert got["method"] == "math_verify_plain"
    elif r == "strict_box":
        assert _verl_math_dapo(response, gt, strict=True) == want_authors
        assert got["method"] == "authors_strict_box"
    else:
        assert got["method"] == "authors_minerva"
        if "Answer" in response[-300:]:
            assert _verl_math_dapo(response, gt, strict=False) == want_authors


def test_cases_really_disagree():
    assert all(a != n for _, _, _, a, n in DISAGREE) and all(a == n for _, _, _, a, n in AGREE)
    assert {route(c[0]) for c in DISAGREE} == {"minerva", "strict_box", "math_verify"}


def test_minerva_normalisation_examples():
    assert minerva_normalize("1,000") == "1000"
    assert minerva_normalize("$\\frac{3}{4}$") == "\\frac{3}{4}"
    assert minerva_normalize("\\fracab") == "\\frac{a}{b}"
    assert minerva_normalize("\\sqrt3") == "\\sqrt{3}"
    assert minerva_normalize("x = 12 \\text{ cm}") == "12"
    assert minerva_normalize("10^\\circ") == "10"


def test_unrouted_data_source_uses_math_verify_and_says_so():
    r = compute_score("aime_2024", "Hence $\\boxed{42}$.", "42", grader="authors")
    assert r["score"] == 1.0 and r["method"] == "math_verify_plain"
    assert "aime_2024" in r["error"] and "data_source" in r["error"]


def test_math_verify_grader_ignores_data_source():
    r = compute_score("math_dapo", "Thus the total is \\boxed{42}.", "42", grader="math-verify")
    assert r["score"] == 1.0 and r["method"] == "math_verify_plain"
    assert compute_score("math_dapo", "Thus the total is \\boxed{42}.", "42", grader="authors")["score"] == -1.0


def test_grader_from_a_worker_thread_keeps_working():
    """Their call scores everything wrong off the main thread (signal); ours runs it in a worker process."""
    import threading

    out = {}
    t = threading.Thread(target=lambda: out.update(r=compute_score("math500", "$\\boxed{\\frac{1}{2}}$", "0.5",
                                                                 grader="authors")))
    t.start()
    t.join(60)
    assert out["r"]["score"] == 1.0


def test_score_batch_with_authors_grader_and_sources():
    cases = DISAGREE + AGREE
    res = score_batch([c[1] for c in cases], [c[2] for c in cases], grader="authors", data_sources=[c[0] for c in cases],
                      timeout=10.0, num_workers=2)
    assert [r["score"] for r in res] == [c[3] for c in cases]
    with pytest.raises(ValueError, match="data_sources has 1"):
        score_batch(["a", "b"], ["1", "2"], grader="authors", data_sources=["math500"])


def test_truncated_is_negative_for_the_authors_grader_too():
    r = compute_score("math_dapo_boxed", "Hence $\\boxed{42}$.", "42", {"truncated": True}, grader="authors")
    assert r["score"] == -1.0 and r["method"] == "truncated" and r["truncated"] is True
    r = compute_score("math_dapo_boxed", "Hence $\\boxed{42}$.", "42", {"truncated": True}, grader="authors",
                      truncated_is_negative=False)
    assert r["score"] == 1.0 and r["truncated"] is True


@pytest.mark.parametrize("bad", ["mathverify", "NFT2", 3, ""])
def test_unknown_grader_is_refused_naming_the_option(bad):
    with pytest.raises(ValueError, match="reward_kwargs.grader"):
        compute_score("math", "\\boxed{1}", "1", grader=bad)
