"""Extraction, cleaning and the exact fast path of nft.reward (pure Python, no worker processes)."""

from __future__ import annotations

import pytest

from nft.reward._boxes import last_boxed
from nft.reward._final import extract_answer
from nft.reward._normal import clean, fast_compare
from nft.reward._numbers import number_value, radical_value


@pytest.mark.parametrize(
    "text, answer, source",
    [
        ("so \\boxed{42}.", "42", "boxed"),
        ("\\boxed{\\frac{1}{\\sqrt{2}}}", "\\frac{1}{\\sqrt{2}}", "boxed"),
        ("first \\boxed{1} then \\boxed{2}", "2", "boxed"),
        ("\\fbox{7}", "7", "boxed"),
        ("\\boxed 5 is it", "5", "boxed"),
        ("ok \\boxed{3} and then truncated \\boxed{4", None, "none"),  # the final box never closes: cut off
        ("\\boxed{\\{1,2\\}}", "\\{1,2\\}", "boxed"),  # escaped braces are content
        ("reasoning\nAnswer: 17", "17", "answer_line"),
        ("reasoning\n**Answer:** $17$", "$17$", "answer_line"),
        ("Answer: \\boxed{9}", "9", "boxed"),
        ("\\boxed{5} but actually\nAnswer: 6", "6", "answer_line"),  # the later one wins
        ("Answer: 6\nso we box it: \\boxed{6}", "6", "boxed"),
        ("Thus the final answer is $12$. I hope it is correct.", "12", "sentence"),
        ("Therefore, the answer is 3/4.", "3/4", "sentence"),
    ],
)
def test_extract_answer(text, answer, source):
    assert extract_answer(text) == (answer, source)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "we get 42 and then",
        "so the value is $\\boxed{4",
        "Answer:",
        "Answer: \\frac{1}{2",  # cut inside the answer line
        "The answer is " + "x" * 10 + " and then much more reasoning follows " * 20,  # sentence not in the tail
        "\\boxed{}",
    ],
)
def test_no_final_answer(text):
    ans, src = extract_answer(text)
    assert ans is None or ans.strip() == ""
    if ans is None:
        assert src == "none"


def test_last_boxed_nested_and_position():
    text = "a \\boxed{\\frac{\\sqrt{3}}{2}} b"
    content, end = last_boxed(text)
    assert content == "\\frac{\\sqrt{3}}{2}"
    assert text[end:] == " b"


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        ("$\\dfrac{1}{2}$.", "\\frac{1}{2}"),
        ("\\left( 1, 2 \\right)", "( 1, 2 )"),
        ("76^\\circ", "76"),
        ("76^{\\circ}", "76"),
        ("76\u00b0", "76"),
        ("\\$18.90", "18.90"),
        ("1\\,000\\,000", "1000000"),
        ("\uff14\uff12", "42"),
        ("\u0664\u0662", "42"),
        ("\u221212", "-12"),
        ("\u00bd", "1/2"),
    ],
)
def test_clean(raw, cleaned):
    assert clean(raw) == cleaned


@pytest.mark.parametrize(
    "s, value, is_int, percent",
    [
        ("42", 42, True, False),
        ("-7", -7, True, False),
        ("1,234,567", 1234567, True, False),
        ("1{,}000", 1000, True, False),
        ("3.50", 3.5, False, False),
        ("\\frac{3}{4}", 0.75, False, False),
        ("\\frac{-3}{4}", -0.75, False, False),
        ("-\\frac34", -0.75, False, False),
        ("7/2", 3.5, False, False),
        ("1.5e3", 1500, False, False),
        ("1.5\\times10^{3}", 1500, False, False),
        ("25\\%", 25, True, True),
        ("x = 5", 5, True, False),
        ("12 \\text{ cm}", 12, True, False),
        ("12 dollars", 12, True, False),
        ("7 \\mathrm{~m}", 7, True, False),
    ],
)
def test_number_value(s, value, is_int, percent):
    n = number_value(s)
    assert n is not None
    assert float(n.value) == pytest.approx(value)
    assert n.is_int is is_int
    assert n.percent is percent


@pytest.mark.parametrize(
    "s",
    ["5x", "2 pi", "2\\pi", "\\sqrt{2}", "1,2", "7,14,18", "(1,2)", "1e99999", "9" * 100, "x^2", "", "\\frac{1}{0}", "2 i"],
)
def test_number_value_rejects_non_plain_numbers(s):
    assert number_value(s) is None


def test_radicals():
    assert radical_value("2\\sqrt{3}") == radical_value("\\sqrt{12}")
    assert radical_value("\\frac{\\sqrt{2}}{2}") == radical_value("\\sqrt{2}/2")
    assert radical_value("-3\\sqrt5") != radical_value("3\\sqrt5")
    assert radical_value("\\frac{1}{\\sqrt{2}}") == radical_value("\\frac{\\sqrt{2}}{2}")
    assert radical_value("\\frac{3}{2\\sqrt{3}}") == radical_value("\\frac{\\sqrt{3}}{2}")
    assert radical_value("\\frac{1}{\\sqrt{3}}") != radical_value("\\frac{\\sqrt{2}}{2}")
    assert radical_value("x\\sqrt{2}") is None


@pytest.mark.parametrize(
    "gold, pred, verdict",
    [
        ("42", "42", True),
        ("42", "43", False),
        ("42", "-42", False),
        ("1000", "1,000", True),
        ("\\frac{1}{2}", "0.5", True),
        ("\\frac{1}{2}", "\\frac{1}{3}", False),  # exact rationals
        ("0.5", "0.55", False),  # decimals, relative difference 1e-1
        ("1.24e-8", "1.2e-8", False),  # relative comparison, not 6-decimal rounding
        ("0.333333", "\\frac{1}{3}", True),  # a decimal ground truth: within half a unit of its last digit
        ("0.33", "\\frac{1}{3}", True),
        ("0.33", "0.3333", True),  # a finer decimal that rounds to the ground truth
        ("0.33", "0.3", False),  # a coarser one does not
        ("0.5", "0.45", False),
        ("5.0", "5.04", False),  # "5.0" states an integer: exact
        ("5.0", "5", True),
        ("1.5e3", "1520", True),  # two significant digits
        ("1.5e3", "1560", False),
        ("\\frac{1}{3}", "0.333333", False),  # an exact ground truth: a rounded decimal is not the answer
        ("\\frac{2}{3}", "0.6667", False),
        ("\\frac{1}{3^{50}}", "\\frac{1}{3^{51}}", False),  # exact expressions, exactly
        ("\\frac{1}{100!}", "\\frac{1}{102!}", False),
        ("\\frac{1}{3^{50}}", "3^{-50}", True),
        ("2^{10}", "1024", True),
        ("0.\\overline{6}", "\\frac{2}{3}", True),  # repeating decimals are exact
        ("\\frac{14}{11}", "1.\\overline{27}", True),
        ("\\frac{1}{6}", "0.1\\overline{6}", True),
        ("\\frac{2}{3}", "0.\\overline{7}", False),
        ("3000000", "3 million", True),  # a scale word multiplies
        ("3", "3 million", False),
        ("2500000", "2.5 \\text{ million}", True),
        ("1.41", "\\sqrt{2}", True),
        ("1.42", "\\sqrt{2}", False),
        ("25", "25\\%", True),
        ("0.25", "25\\%", True),
        ("25\\%", "0.3", None),
        ("2\\sqrt{3}", "\\sqrt{12}", True),
        ("2\\sqrt{3}", "3\\sqrt{2}", False),
        ("2\\sqrt{3}", "3.4641016", False),  # a decimal for an exact radical is a rounded value
        ("(3, -1)", "(3,-1)", True),
        ("(3, -1)", "(-1, 3)", False),
        ("(3, -1)", "(3, -1, 0)", False),  # tuples of different lengths
        ("(2, 5]", "(2,5]", True),  # the same interval
        ("(2, 5]", "[2, 5]", None),  # other intervals: math-verify compares brackets and endpoints
        ("5", "5x", None),
        ("x^2+1", "1+x^2", None),
        ("-2,1", "1,-2", True),  # a list of solutions is a multiset
        ("-2,1", "1,2", False),
        ("y = 3", "x = 3", False),  # the variable is part of the answer when both name one
        ("y = 3", "3", True),
    ],
)
def test_fast_compare(gold, pred, verdict):
    assert fast_compare(clean(gold), clean(pred)) is verdict


def test_fast_path_agrees_with_math_verify():
    """Whenever the fast path decides, math-verify (main thread, in-process) agrees, except where we
    deliberately compare decimals relatively (documented in docs/verifier.md)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    from nft.reward._numbers import latex_for_math_verify

    cfg = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
    golds = ["42", "-7", "1000", "\\frac{1}{2}", "\\frac{3}{4}", "0.5", "2.5", "2\\sqrt{3}", "\\frac{\\sqrt{2}}{2}", "(3, -1)", "25"]
    preds = ["42", "41", "-7", "7", "1,000", "999", "0.5", "\\frac{2}{4}", "\\frac{1}{3}", "0.75", "3/4", "2.50", "2.4",
             "\\sqrt{12}", "3\\sqrt{2}", "\\sqrt{2}/2", "\\frac{1}{\\sqrt{2}}", "\\frac{2}{\\sqrt{3}}", "\\frac{1}{2}", "(3,-1)", "(-1,3)", "25\\%", "\\frac{5}{2}"]
    decided = 0
    for g in golds:
        for p in preds:
            v = fast_compare(clean(g), clean(p))
            if v is None:
                continue
            decided += 1
            mv = verify(
                parse("\\boxed{" + latex_for_math_verify(clean(g)) + "}", cfg, parsing_timeout=None),
                parse("\\boxed{" + latex_for_math_verify(clean(p)) + "}", cfg, parsing_timeout=None),
                timeout_seconds=None,
            )
            assert mv == v, (g, p, v, mv)
    assert decided > 100


# ---------------------------------------------------------------------------------------------- issue 11
from fractions import Fraction  # noqa: E402

from nft.reward._boxes import all_boxed, final_box_group  # noqa: E402
from nft.reward._final import answer_from_words  # noqa: E402
from nft.reward._normal import compound_quantity, inequality_as_interval  # noqa: E402
from nft.reward._numbers import exact_value  # noqa: E402


@pytest.mark.parametrize(
    "text, answer",
    [
        ("Counting.\nAnswer: There are 12 ways.", "12"),
        ("Checking.\n\nSo the largest value is -7.", "-7"),
        ("We check $k$.\n\nFinal Answer: The smallest $k$ is 17.", "17"),
        ("Thus the answer is 17, since $k$ must be odd.", "17"),
        ("Answer: The values are 3 and 5.", "3, 5"),
        ("Therefore the answer is 5 or 6.", "5, 6"),  # a hedge keeps both values
        ("Answer: The answer is 3 and it is odd.", "3"),
        ("Final Answer: The final answer is $8$. I hope it is correct.", "8"),
        ("Therefore, the area is $\\frac{1}{2}$ square units.", "\\frac{1}{2}"),
        ("the answer is 2\\sqrt{3}.", "2\\sqrt{3}"),  # a number followed by LaTeX is not a plain number
        ("the answer is 3 \\times 10^5.", "3 \\times 10^5"),
        ("Answer: x = 5 and y = 3", "x = 5 and y = 3"),  # several '=': kept whole
        # "more", "less", "fewer", "least", "most" alone are ordinary words, not hedges
        ("Answer: He needs 7 more apples.", "7"),
        ("Answer: She has 3 fewer marbles.", "3"),
        ("Answer: It weighs 4 pounds less.", "4"),
        ("Final Answer: The least $n$ is $11$.", "11"),
        ("Final Answer: The most she can save is 12 dollars.", "12"),
        # a compound quantity is kept whole, never its first number
        ("So the total time is 2 hours and 15 minutes.", "2 hours and 15 minutes"),
        ("the answer is 7 feet 2 inches.", "7 feet 2 inches"),
        ("So the board is 7 feet, 2 inches long.", "7 feet, 2 inches"),
    ],
)
def test_answers_wrapped_in_words(text, answer):
    assert extract_answer(text)[0] == answer


@pytest.mark.parametrize(
    "text",
    [
        "So the answer is correct",  # no final period: maybe cut off
        "We try 12 and then 13. Next we consider the other case",
        "So we get 12 and continue with the second part of the problem, which asks for more.",  # no copula value
        "Thus $x + y$ is what we still have to bound.",  # a copula that states no value
    ],
)
def test_no_value_from_an_unfinished_or_valueless_closing(text):
    ans, _src = extract_answer(text)
    assert ans in (None, "correct") or not any(c.isdigit() for c in ans)


@pytest.mark.parametrize("text", ["the answer is not 5 but 7.", "Answer: The answer is not 5 but 7.",
                                  "So the answer is not 5, it is 7.", "Answer: at least 5 people",
                                  "Answer: There are about 5 ways.", "So the count is 5 or more.",
                                  "Answer: probably 5 apples"])
def test_negated_values_are_not_taken(text):
    ans, _src = extract_answer(text)
    assert ans is None or ans.strip() != "5"


#: hedge constructions of "more" / "less" / "fewer" / "least" / "most": no value is stated
HEDGED_7 = [
    "Answer: He needs 7 or more apples.", "Answer: He needs more than 7 apples.",
    "Answer: He needs no more than 7 apples.", "Answer: He needs no less than 7 apples.",
    "Answer: 7 or fewer apples.", "Answer: 7 or less", "Answer: fewer than 7 people",
    "Answer: at most 7", "Answer: at least 7 apples", "Answer: 7, more or less", "Answer: 7 and up",
    "So the count is 7 or more.", "the answer is 7 or more.", "\\boxed{\\text{at least } 7}",
]


@pytest.mark.parametrize("text", HEDGED_7)
def test_hedged_values_are_not_taken(text):
    from nft.reward import _prepare

    ans, _src = extract_answer(text)
    assert ans is None or ans.strip() != "7"
    r = _prepare(text, "7")  # decided here (no math-verify, which would read the 7 out of the words)
    assert isinstance(r, dict) and r["score"] == -1.0, r


@pytest.mark.parametrize(
    "text", ["Answer: He needs 7 more apples.", "Answer: 7 more", "Final Answer: The least $k$ is $7$.",
             "So the most we can take is 7."]
)
def test_more_less_least_most_alone_keep_the_value(text):
    from nft.reward import _prepare

    r = _prepare(text, "7")
    assert isinstance(r, dict) and r["score"] == 1.0 and r["pred"] == "7", r


def test_prose_answer_is_compared_as_text_only():
    """An answer line that stays prose is never handed to math-verify, which reads "... and 15
    minutes" as the set {15, ...} and equals it to 15."""
    from nft.reward import _prepare

    text = "Answer: Filling the tank takes 2 hours and 15 minutes."
    for gold in ["15", "2", "135"]:
        r = _prepare(text, gold)
        assert isinstance(r, dict) and r["score"] == -1.0 and r["method"] == "string", (gold, r)
    assert _prepare(text, "\\text{Filling the tank takes 2 hours and 15 minutes}")["score"] == 1.0
    assert _prepare("Answer: 2 hours and 15 minutes", "2 \\text{ hours } 15 \\text{ minutes}")["score"] == 1.0
    assert _prepare("So the total time is 2 hours and 15 minutes.", "2")["score"] == -1.0


def test_box_group_and_corrections():
    assert final_box_group("so \\boxed{(1, 4)} and \\boxed{(4, 1)}.") == ["(1, 4)", "(4, 1)"]
    assert final_box_group("$x = \\boxed{2}$ or $x = \\boxed{-3}$") == ["2", "-3"]
    assert final_box_group("\\boxed{5}. Checking again, that was wrong; it is \\boxed{7}.") == ["7"]
    assert final_box_group("Intermediate: \\fbox{12}. Final: \\fbox{13}.") == ["13"]
    assert len(final_box_group("\\boxed{1}" * 5000)) == 32  # bounded


def test_all_boxed_reads_each_brace_once_and_skips_unclosed(monkeypatch):
    """Linear by construction, counted rather than timed: the brace tokens the matcher reads stay
    within the number of braces in the text (a scan from every box to the end would read ~n^2/2)."""
    from nft.reward import _boxes

    read = []

    class CountingPattern:
        def finditer(self, text, start, stop):
            for tok in _BRACE_TOKEN_RE.finditer(text, start, stop):
                read.append(tok.start())
                yield tok

    _BRACE_TOKEN_RE = _boxes._BRACE_TOKEN_RE
    monkeypatch.setattr(_boxes, "_BRACE_TOKEN_RE", CountingPattern())
    text = "\\boxed{" * 2_000 + "\\boxed{7}"
    boxes = all_boxed(text)
    assert [b[0] for b in boxes] == ["7"]
    assert len(read) <= text.count("{") + text.count("}")
    assert len(read) == len(set(read))  # no brace read twice


@pytest.mark.parametrize(
    "s, parts",
    [
        ("7 \\text{ feet } 2 \\text{ inches}", [(7, "feet"), (2, "inche")]),
        ("2 hours and 15 minutes", [(2, "hour"), (15, "minute")]),
        ("3 h, 20 min", [(3, "h"), (20, "min")]),
        ("42 cm", None),  # one quantity: a plain number with a unit
        ("2 pi 3 pi", None),
        ("12 and 15", None),
        ("x^2 + 1", None),
    ],
)
def test_compound_quantity(s, parts):
    got = compound_quantity(s)
    assert (got if got is None else [(int(v), u) for v, u in got]) == parts


@pytest.mark.parametrize(
    "s, interval",
    [
        ("-1 < x \\le 4", "(-1, 4]"),
        ("x \\ge 5", "[5, \\infty)"),
        ("x < 2", "(-\\infty, 2)"),
        ("5 \\le x", "[5, \\infty)"),
        ("4 \\ge x > -1", "(-1, 4]"),
        ("x \\in (0, 1)", None),  # already an interval: nothing to rewrite
        ("x < y", None),
        ("x^2 < 4", None),
    ],
)
def test_inequality_as_interval(s, interval):
    assert inequality_as_interval(s) == interval


@pytest.mark.parametrize(
    "s, value",
    [
        ("\\frac{1}{3^{50}}", Fraction(1, 3**50)),
        ("1/(100!)", Fraction(1, __import__("math").factorial(100))),
        ("2^{10}-1", Fraction(1023)),
        ("\\frac{50!}{48!}", Fraction(2450)),
        ("3^{-2}", Fraction(1, 9)),
        ("(2+3)\\cdot 4", Fraction(20)),
        ("9^{9^{9}}", None),  # exponent beyond MAX_EXPONENT
        ("3^10", None),  # ambiguous LaTeX
        ("2^{0.5}", None),
        ("x+1", None),
        ("1.5/2", None),  # a decimal is not exact
        ("5000!", None),
    ],
)
def test_exact_value(s, value):
    assert exact_value(s) == value


def test_answer_from_words_keeps_plain_answers():
    for s in ["x = 5", "\\frac{1}{2}", "12 \\text{ cm}", "(1, 2)", "Evelyn"]:
        assert answer_from_words(s) == s
