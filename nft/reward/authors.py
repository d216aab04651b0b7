"""The NFT authors' training reward, re-implemented (``compute_score(..., grader="authors")``).

What their code does (NVlabs/NFT, ``verifier.py`` and ``main_nft.py``; verl pinned at commit
``01ef7184821d0d7844796ec0ced17665c1f50673``): ``main_nft.py`` replaces verl's
``utils.reward_score._default_compute_score`` by ``verifier._default_compute_score`` and verl's
``utils.reward_score.math_verify.compute_score`` by ``verifier.math_verify_compute_score``; the
first routes on ``data_source``:

* ``math_dapo``: verl's ``utils/reward_score/math_dapo.py::compute_score`` (Minerva-style): the
  last ``Answer: ...`` in the last 300 characters of the response, both sides normalised by
  ``normalize_final_answer``, then compared as strings;
* ``math_dapo_boxed``, ``amc_dapo_boxed``, ``aime_2025_dapo_boxed``, ``amc2023_dapo_boxed``: the same
  with ``strict_box_verify=True`` (``is_correct_strict_box``): the last ``\\boxed{`` in the last 100
  characters of the response, its content compared *verbatim* with the ground truth;
* ``lighteval/MATH``, ``DigitalLearningGmbH/MATH-lighteval``, ``math500``, ``math500_w_answer``,
  ``olympiadbench``, ``minerva_math``: math-verify's ``math_metric`` (LaTeX extraction of the boxed
  gold, expression + LaTeX extraction over the whole response), an exception scoring wrong;
* anything else: their code raises ``NotImplementedError`` (or calls verl scorers for GSM8K, code
  and geometry data that this package does not ship); here such rows are scored with math-verify and
  ``error`` names the ``data_source``, because a reward function must not raise inside verl.

This is our own implementation of that behaviour (no code is copied); ``tests/test_reward_authors.py``
pins it on hand-written cases, including where it disagrees with ``grader="nft"``. Scores are
``+1`` / ``-1`` as theirs; math-verify runs in this package's killable worker pool with the same
per-answer deadline as the default grader (in their trainer it ran in the main thread with
``signal`` timeouts, which cannot work in verl 0.9.1's reward threads).
"""

from __future__ import annotations

import re

#: data_source values their code sends to the strict-box check
STRICT_BOX_SOURCES = frozenset({"math_dapo_boxed", "amc_dapo_boxed", "aime_2025_dapo_boxed", "amc2023_dapo_boxed"})
#: data_source values their code sends to the Minerva-style ``Answer:`` check
MINERVA_SOURCES = frozenset({"math_dapo"})
#: data_source values their code sends to math-verify
MATH_VERIFY_SOURCES = frozenset(
    {"lighteval/MATH", "DigitalLearningGmbH/MATH-lighteval", "math500", "math500_w_answer", "olympiadbench",
     "minerva_math"}
)

#: characters of the response math_dapo.compute_score looks at, and the strict-box window inside it
TAIL_CHARS = 300
BOX_TAIL_CHARS = 100


def route(data_source: str) -> str:
    """``"strict_box"``, ``"minerva"``, ``"math_verify"`` or ``"unrouted"`` (scored with math-verify)."""
    if data_source in STRICT_BOX_SOURCES:
        return "strict_box"
    if data_source in MINERVA_SOURCES:
        return "minerva"
    if data_source in MATH_VERIFY_SOURCES:
        return "math_verify"
    return "unrouted"


def last_box_strict(text: str) -> str | None:
    """Content of the last ``\\boxed{`` of ``text`` up to the brace that closes it, counting every
    ``{``/``}`` (escaped braces included, as math_dapo's ``last_boxed_only_string`` does); None when
    there is no ``\\boxed{`` or it never closes. ``\\fbox`` and ``\\boxed 5`` do not count."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth = 0
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start + len("\\boxed{") : i]
    return None


def strict_box_correct(solution: str, ground_truth: str) -> tuple[bool, str]:
    """math_dapo with ``strict_box_verify=True``: the box must lie in the last 100 of the last 300
    characters and hold exactly the ground-truth string."""
    window = solution[-TAIL_CHARS:][-BOX_TAIL_CHARS:]
    pred = last_box_strict(window)
    return (pred is not None and pred == ground_truth), ("" if pred is None else pred)


# normalize_final_answer's tables (Minerva / lm-evaluation-harness conventions): literal replacements
# applied in order, then literal removals, both on the whole string
_REPLACE = (("an ", ""), ("a ", ""), (".$", "$"), ("\\$", ""), ("\\ ", ""), (" ", ""), ("mbox", "text"),
            (",\\text{and}", ","), ("\\text{and}", ","), ("\\text{m}", "\\text{}"))
_DROP = ("square", "ways", "integers", "dollars", "mph", "inches", "hours", "km", "units", "\\ldots", "sue",
         "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm", "pounds", "meters", "meals",
         "edges", "students", "childrentickets", "multiples", "\\text{s}", "\\text{.}", "\\text{\ns}",
         "\\text{}^2", "\\text{}^3", "\\text{\n}", "\\text{}", "\\mathrm{th}", "^\\circ", "^{\\circ}", "\\;",
         ",\\!", "{,}", '"', "\\dots")
_FIRST_MATH = re.compile(r"\$(.*?)\$")
_UNWRAP = [re.compile(r"\\text\{(.*?)\}"), re.compile(r"\\textbf\{(.*?)\}"), re.compile(r"\\overline\{(.*?)\}")]
_UNBOX = re.compile(r"\\boxed\{(.*)\}")
_FRAC_SHORT = re.compile(r"frac([^{])(.)")
_SQRT_SHORT = re.compile(r"sqrt([^{])")


def minerva_normalize(answer: str) -> str:
    """Behaviour of math_dapo's ``normalize_final_answer``: keep what follows the last ``=``, apply
    the replacement and removal tables, keep only the first ``$...$`` if there is one, unwrap
    ``\\text{}``/``\\textbf{}``/``\\overline{}`` (first, non-greedy) and ``\\boxed{}`` (greedy), expand
    ``\\fracab``/``\\sqrta``, drop ``$``, drop commas of a pure digit string, strip."""
    s = answer.split("=")[-1]
    for old, new in _REPLACE:
        s = s.replace(old, new)
    for old in _DROP:
        s = s.replace(old, "")
    # only the first line can hold "$...$" for their single-line regex; answers here have no newline
    first_line, nl, rest = s.partition("\n")
    m = _FIRST_MATH.search(first_line)
    if m is not None:
        s = "$" + m.group(1) + "$" + (nl + rest if nl else "")
    for pat in _UNWRAP:
        s = pat.sub(lambda mm: mm.group(1), s, count=0)
    s = _UNBOX.sub(lambda mm: mm.group(1), s)
    s = _FRAC_SHORT.sub(lambda mm: "frac{" + mm.group(1) + "}{" + mm.group(2) + "}", s)
    s = _SQRT_SHORT.sub(lambda mm: "sqrt{" + mm.group(1) + "}", s)
    s = s.replace("$", "")
    if s.replace(",", "").isdigit():
        s = s.replace(",", "")
    return s.strip()


_ANSWER_RE = re.compile(r"(?i)Answer\s*:\s*([^\n]+)")


def minerva_correct(solution: str, ground_truth: str) -> tuple[bool, str]:
    """math_dapo without strict box: the last ``Answer: ...`` of the last 300 characters, normalised,
    equals the normalised ground truth."""
    found = _ANSWER_RE.findall(solution[-TAIL_CHARS:])
    pred = minerva_normalize(found[-1] if found else "[INVALID]")
    return pred == minerva_normalize(ground_truth), pred
