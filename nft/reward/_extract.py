"""Final-answer extraction and cheap normalization (pure Python, no sympy).

Extraction reads a response the way a careful grader does:

1. the last complete ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces; ``\\boxed 5`` too), and the last
   ``Answer: ...`` line (the DAPO-Math-17k format); whichever of the two ends later in the text wins
   (an ``Answer:`` line that itself holds a ``\\boxed{}`` yields the boxed content);
2. otherwise a final-answer sentence ("the final answer is ...", "the answer is ...") that sits in the
   last :data:`SENTENCE_TAIL_CHARS` characters of the response;
3. otherwise there is no final answer (a truncated response): the caller scores it as wrong.

A value that only appears inside the reasoning is never picked up.

Every function here is linear in the input size (no backtracking-prone regex) and never raises on
any ``str`` input.
"""

from __future__ import annotations

import re
import unicodedata
from fractions import Fraction

#: A final-answer sentence counts only if it starts within this many characters of the end.
SENTENCE_TAIL_CHARS = 400
#: Extracted answers longer than this are kept for math-verify but never go through the fast path.
FAST_MAX_LEN = 80

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\b")
_ANSWER_LINE_RE = re.compile(
    r"(?im)^[ \t>#*_]*(?:\*\*)?(?:final[ \t]+)?answer[ \t]*(?:\*\*)?[ \t]*[:：][ \t]*(?:\*\*)?([^\n]*)$"
)
_SENTENCE_RE = re.compile(r"(?i)\b(?:the[ \t]+)?(?:final[ \t]+)?answer[ \t]+is[ \t]*[:：]?[ \t]*")


def _match_braces(text: str, open_idx: int) -> int:
    """Index just past the ``}`` matching the ``{`` at ``open_idx``, or -1 if unbalanced."""
    depth = 0
    i = open_idx
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "{}":
            i += 2  # escaped brace \{ \} is content, not structure
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def last_boxed(text: str) -> tuple[str, int] | None:
    """Content of the last complete ``\\boxed``/``\\fbox`` and the index where it ends, or None."""
    for m in reversed(list(_BOX_RE.finditer(text))):
        j = m.end()
        while j < len(text) and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] == "{":
            end = _match_braces(text, j)
            if end != -1:
                return text[j + 1 : end - 1], end
            continue  # unbalanced (truncated) box: look at an earlier one
        # "\boxed 5": a single token up to whitespace/$
        k = j
        while k < len(text) and text[k] not in " \t\n$":
            k += 1
        if k > j and j > m.end():
            return text[j:k], k
    return None


def _answer_line(text: str) -> tuple[str, int] | None:
    last = None
    for m in _ANSWER_LINE_RE.finditer(text):
        if m.group(1).strip(" \t*$."):
            last = m
    if last is None:
        return None
    content = last.group(1).strip()
    boxed = last_boxed(content)
    if boxed is not None:
        content = boxed[0]
    return content, last.end(1)


def _final_sentence(text: str) -> str | None:
    tail_start = max(0, len(text) - SENTENCE_TAIL_CHARS)
    last = None
    for m in _SENTENCE_RE.finditer(text, tail_start):
        last = m
    if last is None:
        return None
    rest = text[last.end() :]
    # the answer runs to the end of the sentence: a period followed by space/end, or a newline
    stop = len(rest)
    for pat in (". ", ".\n", "\n"):
        k = rest.find(pat)
        if k != -1:
            stop = min(stop, k)
    rest = rest[:stop].strip()
    if rest.endswith("."):
        rest = rest[:-1]
    # "the answer is $x$, I hope it is correct" -> keep the math part
    if rest.count("$") >= 2:
        a = rest.find("$")
        b = rest.find("$", a + 1)
        rest = rest[a + 1 : b]
    rest = rest.strip()
    if not rest or len(rest) > 120:
        return None
    return rest


def _balanced(s: str) -> bool:
    depth = 0
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] in "{}":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return False
        i += 1
    return depth == 0


def extract_answer(text: str) -> tuple[str | None, str]:
    """Return ``(answer, source)``; source is ``"boxed"``, ``"answer_line"``, ``"sentence"`` or ``"none"``.

    An ``Answer:`` line or sentence that is cut off (unbalanced braces, or a ``\\boxed`` that never
    closes) is not a final answer."""
    boxed = last_boxed(text)
    line = _answer_line(text)
    if line is not None and (not _balanced(line[0]) or _BOX_RE.search(line[0])):
        line = None
    if boxed is not None and (line is None or boxed[1] >= line[1]):
        return boxed[0], "boxed"
    if line is not None:
        return line[0], "answer_line"
    sent = _final_sentence(text)
    if sent is not None and _balanced(sent) and not _BOX_RE.search(sent):
        return sent, "sentence"
    return None, "none"


# ----------------------------------------------------------------------------------------------
# cleaning (value-preserving, applied to both prediction and ground truth)
# ----------------------------------------------------------------------------------------------

_UNICODE_MAP = {
    "\u2212": "-",  # minus sign
    "\u2013": "-",
    "\u2014": "-",
    "\u00d7": "\\times ",
    "\u22c5": "\\cdot ",
    "\u00b7": "\\cdot ",
    "\u221a": "\\sqrt",
    "\u03c0": "\\pi ",
    "\u221e": "\\infty ",
    "\u00b0": "^\\circ",
    "\u2264": "\\le ",
    "\u2265": "\\ge ",
    "\u00a0": " ",
    "\u2044": "/",  # fraction slash (NFKC of "½" is "1⁄2")
    "\u2009": " ",
    "\u202f": " ",
}


def _unicode_fold(s: str) -> str:
    s = unicodedata.normalize("NFKC", s)
    out = []
    for ch in s:
        if ch in _UNICODE_MAP:
            out.append(_UNICODE_MAP[ch])
        elif ch.isdigit() and not ch.isascii():
            d = unicodedata.decimal(ch, None)
            out.append(str(d) if d is not None else ch)
        else:
            out.append(ch)
    return "".join(out)


_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|mbox|mathrm|textrm|operatorname|mathbf)\s*\{([^{}]*)\}")
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\degree|\^\s*\{\s*o\s*\}")
_SPACING_RE = re.compile(r"\\[,;:! ]|\\quad|\\qquad|~")
_LEFT_RIGHT_RE = re.compile(r"\\(?:left|right)(?=[()\[\]|.]|\\[{}])")
_DFRAC_RE = re.compile(r"\\[dt]frac")
_THIN_SEP_RE = re.compile(r"(?<=\d)\\[,!:; ](?=\d{3}(?!\d))")


def clean(s: str) -> str:
    """Value-preserving cleanup: unicode folding, outer ``$``/``\\( \\)``, trailing period,
    ``\\left``/``\\right``, ``\\dfrac``→``\\frac``, spacing commands, degree marks, a leading ``\\$``.
    Units/percent are handled by :func:`number_value` (only when what remains is a plain number)."""
    s = _unicode_fold(s).strip()
    for _ in range(3):
        s0 = s
        if s.startswith("$$") and s.endswith("$$") and len(s) > 4:
            s = s[2:-2].strip()
        if s.startswith("$") and s.endswith("$") and len(s) > 2:
            s = s[1:-1].strip()
        if s.startswith("\\(") and s.endswith("\\)"):
            s = s[2:-2].strip()
        if s.startswith("\\[") and s.endswith("\\]"):
            s = s[2:-2].strip()
        s = s.rstrip(" .")
        if s.endswith("$") and s.count("$") % 2 == 1:
            s = s[:-1].rstrip()  # "$x$." style leftovers
        if s.startswith("$") and s.count("$") % 2 == 1:
            s = s[1:].lstrip()
        if s == s0:
            break
    s = _LEFT_RIGHT_RE.sub("", s)
    s = _DFRAC_RE.sub(r"\\frac", s)
    s = _THIN_SEP_RE.sub("", s)  # 1\,000\,000 -> 1000000 (only between digit groups)
    s = _SPACING_RE.sub(" ", s)
    s = _DEGREE_RE.sub("", s)
    s = s.replace("\\displaystyle", "")
    if s.startswith("\\$"):
        s = s[2:]
    elif s.startswith("$") and s[1:2].isdigit():
        s = s[1:]
    return s.strip()


# ----------------------------------------------------------------------------------------------
# exact numbers
# ----------------------------------------------------------------------------------------------

_NUM_RE = re.compile(
    r"^(?P<sign>[-+]?)(?:"
    r"(?P<grp>\d{1,3}(?:(?:,|\{,\})\d{3})+(?:\.\d+)?)"  # 1,234,567(.89)
    r"|(?P<dec>\d+(?:\.\d*)?|\.\d+)(?:(?:[eE](?P<e1>[-+]?\d{1,3}))|(?:\s*\\(?:times|cdot)\s*10\s*\^\s*\{?\s*(?P<e2>[-+]?\d{1,3})\s*\}?))?"
    r"|\\frac\s*\{\s*(?P<fn>[-+]?\d+)\s*\}\s*\{\s*(?P<fd>[-+]?\d+)\s*\}"
    r"|\\frac(?P<fa>\d)(?P<fb>\d)"
    r"|(?P<sn>\d+)\s*/\s*(?P<sd>\d+)"
    r")$"
)
_ASSIGN_RE = re.compile(r"^[a-zA-Z]\s*(?:_\{?\w+\}?)?\s*=\s*")
_TRAILING_UNIT_RE = re.compile(
    r"^(?P<num>.*?\d\}?)\s*(?:\\(?:text|mbox|mathrm)\s*\{(?P<t>[^{}]*)\}|\s(?P<w>[a-zA-Z]{2,12})\.?)$"
)
#: words after a number that are mathematics, not units ("2 pi" is not 2)
_NOT_UNITS = frozenset(
    "pi sqrt cdot times ln log sin cos tan cot sec csc exp and or to i e mod pmod infty".split()
)
_PERCENT_RE = re.compile(r"\s*(?:\\%|%|\\text\{\s*percent\s*\}|percent)$")


class Num:
    """An exact rational with the facts the verifier needs about how it was written."""

    __slots__ = ("value", "is_int", "percent")

    def __init__(self, value: Fraction, is_int: bool, percent: bool):
        self.value = value
        self.is_int = is_int
        self.percent = percent

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Num({self.value}, is_int={self.is_int}, percent={self.percent})"


def _parse_plain_number(s: str) -> tuple[Fraction, bool] | None:
    s = s.strip()
    if s.startswith("{") and s.endswith("}"):
        s = s[1:-1].strip()
    if s.startswith("(") and s.endswith(")") and "," not in s:
        s = s[1:-1].strip()
    m = _NUM_RE.match(s)
    if m is None:
        return None
    neg = m.group("sign") == "-"
    if m.group("grp") is not None:
        txt = m.group("grp").replace("{,}", "").replace(",", "")
        val = Fraction(txt)
        is_int = "." not in txt
    elif m.group("dec") is not None:
        txt = m.group("dec")
        val = Fraction(txt if txt != "." else "0")
        exp = m.group("e1") or m.group("e2")
        is_int = "." not in txt and exp is None
        if exp is not None:
            val *= Fraction(10) ** int(exp)
    elif m.group("fn") is not None:
        num, den = int(m.group("fn")), int(m.group("fd"))
        if den == 0:
            return None
        val = Fraction(num, den)
        is_int = False
    elif m.group("fa") is not None:
        den = int(m.group("fb"))
        if den == 0:
            return None
        val = Fraction(int(m.group("fa")), den)
        is_int = False
    else:
        den = int(m.group("sd"))
        if den == 0:
            return None
        val = Fraction(int(m.group("sn")), den)
        is_int = False
    if neg:
        val = -val
    return val, is_int


def number_value(s: str) -> Num | None:
    """Exact value of a plain number written as an integer, decimal, ``a/b``, ``\\frac{a}{b}``,
    scientific notation, with thousands separators, an optional ``x =``, a trailing unit word or
    ``\\text{...}`` unit, a leading ``\\$``, a trailing percent sign. ``None`` for anything else
    (including anything longer than :data:`FAST_MAX_LEN`).

    ``is_int`` is True only for an integer written without decimal point, exponent or fraction.
    """
    if not s or len(s) > FAST_MAX_LEN:
        return None
    s = s.strip()
    s = _ASSIGN_RE.sub("", s, count=1)
    percent = False
    m = _PERCENT_RE.search(s)
    if m is not None:
        percent = True
        s = s[: m.start()]
    parsed = _parse_plain_number(s)
    if parsed is None:
        mu = _TRAILING_UNIT_RE.match(s)
        unit = None if mu is None else (mu.group("t") if mu.group("t") is not None else mu.group("w"))
        if unit is not None and (not re.fullmatch(r"[\sa-zA-Z.~/]*", unit) or unit.strip(" ~").lower() in _NOT_UNITS):
            mu = None
        if mu is not None:
            parsed = _parse_plain_number(mu.group("num"))
            if parsed is None:
                # units written inside text with a number: "5 \text{ cm}^2" is not handled here
                return None
            if not percent:
                m2 = _PERCENT_RE.search(mu.group("num"))
                if m2 is not None:
                    return None
    if parsed is None:
        return None
    val, is_int = parsed
    return Num(val, is_int, percent)


def canonical_number(n: Num) -> str:
    """Stable string for a number (used as ``pred`` so verl's maj@k votes on values)."""
    v = n.value
    s = str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
    return s + ("%" if n.percent else "")


_RAD_PATTERNS = [
    re.compile(
        r"^(?P<sign>[-+]?)(?P<coef>\d+)?\s*(?:\\cdot|\\times)?\s*\\sqrt\s*(?:\{\s*(?P<m>\d{1,12})\s*\}|(?P<m1>\d))$"
    ),
    re.compile(
        r"^(?P<sign>[-+]?)\\frac\s*\{\s*(?P<coef>\d+)?\s*\\sqrt\s*(?:\{\s*(?P<m>\d{1,12})\s*\}|(?P<m1>\d))\s*\}"
        r"\s*\{\s*(?P<den>\d+)\s*\}$"
    ),
    re.compile(
        r"^(?P<sign>[-+]?)(?P<coef>\d+)?\s*\\sqrt\s*(?:\{\s*(?P<m>\d{1,12})\s*\}|(?P<m1>\d))\s*/\s*(?P<den>\d+)$"
    ),
]


class Rad:
    """``sign * sqrt(square)``: an exact number ``c * sqrt(m)`` stored as ``c**2 * m`` and a sign."""

    __slots__ = ("sign", "square")

    def __init__(self, sign: int, square: Fraction):
        self.sign = sign if square != 0 else 0
        self.square = square

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rad) and self.sign == other.sign and self.square == other.square

    __hash__ = None  # type: ignore[assignment]


_RAD_RECIP_RE = re.compile(
    r"^(?P<sign>[-+]?)\\frac\s*\{\s*(?P<num>\d+)\s*\}\s*\{\s*(?P<coef>\d+)?\s*\\sqrt\s*(?:\{\s*(?P<m>\d{1,12})\s*\}|(?P<m1>\d))\s*\}$"
)


def radical_value(s: str) -> Rad | None:
    """Exact value of ``k\\sqrt{m}``, ``\\frac{k\\sqrt{m}}{d}``, ``k\\sqrt{m}/d``, ``\\frac{k}{c\\sqrt{m}}``
    (integers k, m, c, d)."""
    if not s or len(s) > FAST_MAX_LEN or "sqrt" not in s:
        return None
    for pat in _RAD_PATTERNS:
        m = pat.match(s.strip())
        if m is None:
            continue
        coef = Fraction(int(m.group("coef"))) if m.group("coef") else Fraction(1)
        den = m.groupdict().get("den")
        if den is not None:
            if int(den) == 0:
                return None
            coef /= int(den)
        rad = int(m.group("m") if m.group("m") is not None else m.group("m1"))
        sign = -1 if m.group("sign") == "-" else 1
        return Rad(sign, coef * coef * rad)
    m = _RAD_RECIP_RE.match(s.strip())  # \frac{k}{c\sqrt{m}} = (k / c) / sqrt(m)
    if m is not None:
        rad = int(m.group("m") if m.group("m") is not None else m.group("m1"))
        coef = int(m.group("coef")) if m.group("coef") else 1
        if rad == 0 or coef == 0:
            return None
        sign = -1 if m.group("sign") == "-" else 1
        return Rad(sign, Fraction(int(m.group("num")) ** 2, coef * coef * rad))
    return None


def _as_rad(n: Num) -> Rad:
    v = n.value
    return Rad(-1 if v < 0 else 1, v * v)


def _is_exact_notation(n: Num, text: str) -> bool:
    """Integer or fraction written without a decimal point or exponent."""
    return n.is_int or not re.search(r"[.eE]|\\times|\\cdot", text)


def _compare_scalar(gold: str, pred: str) -> bool | None:
    g = number_value(gold)
    p = number_value(pred)
    if g is not None and p is not None:
        if g.value == p.value and g.percent == p.percent:
            return True
        if g.percent != p.percent:
            hundred = Fraction(100)
            if g.value == p.value:
                return True  # "25%" for "25": the grader accepts the unit
            if p.percent and p.value / hundred == g.value:
                return True
            if g.percent and g.value / hundred == p.value:
                return True
            return None
        if g.is_int and p.is_int:
            return False
        if _is_exact_notation(g, gold) and _is_exact_notation(p, pred):
            return False  # two exact rationals: math-verify compares them exactly too
        scale = max(abs(g.value), abs(p.value))
        if abs(g.value - p.value) > Fraction(1, 100000) * scale:
            return False  # differ beyond any rounding of the written digits
        return None
    gr = radical_value(gold) if g is None else (_as_rad(g) if _is_exact_notation(g, gold) and not g.percent else None)
    pr = radical_value(pred) if p is None else (_as_rad(p) if _is_exact_notation(p, pred) and not p.percent else None)
    if gr is None or pr is None:
        return None
    return gr == pr


def _split_top(s: str) -> list[str] | None:
    """Split ``(a, b, c)`` at top-level commas; None if not a parenthesised tuple."""
    if not (s.startswith("(") and s.endswith(")")):
        return None
    inner = s[1:-1]
    parts, depth, cur = [], 0, []
    for ch in inner:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                return None
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts if len(parts) >= 2 and depth == 0 else None


def fast_compare(gold: str, pred: str) -> bool | None:
    """Decide equality without sympy when it is safe, else ``None`` (ask math-verify).

    Scalars (plain numbers, see :func:`number_value`; radicals ``k\\sqrt{m}``):

    * exactly equal values -> True (a percent sign on one side: equal values, or ``pred/100 ==
      gold``, or ``pred == gold/100`` -> True; otherwise undecided);
    * two integers, two exact rationals or exact radicals that differ -> False (math-verify
      compares exact numbers exactly as well);
    * decimals that differ by more than a relative 1e-5 -> False; closer -> undecided (math-verify
      applies its rounding rules).

    Parenthesised tuples of scalars of the same length: all elements equal -> True; an element
    decided unequal -> False. Everything else -> None.
    """
    if len(gold) > 4 * FAST_MAX_LEN or len(pred) > 4 * FAST_MAX_LEN:
        return None
    gt = _split_top(gold.replace(" ", ""))
    pt = _split_top(pred.replace(" ", ""))
    if gt is not None or pt is not None:
        if gt is None or pt is None or len(gt) != len(pt):
            return None
        verdicts = [_compare_scalar(a, b) for a, b in zip(gt, pt)]
        if all(v is True for v in verdicts):
            return True
        if any(v is False for v in verdicts):
            return False
        return None
    return _compare_scalar(gold, pred)


_SCI_E_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([-+]?\d{1,4})(?![\w.])")


def latex_for_math_verify(s: str) -> str:
    """Rewrite forms math-verify misreads: ``1.2e-8`` -> ``1.2\\times10^{-8}``; strip a trailing
    percent sign (math-verify keeps ``10\\%`` inside \\boxed as a bare string); remove thousands
    separators in a plain ``1,234,567``."""
    s = _SCI_E_RE.sub(lambda m: f"{m.group(1)}\\times10^{{{m.group(2)}}}", s)
    s = _PERCENT_RE.sub("", s)
    if re.fullmatch(r"[-+]?\d{1,3}(?:(?:,|\{,\})\d{3})+(?:\.\d+)?", s):
        s = s.replace("{,}", "").replace(",", "")
    return s


_STR_NORM_RE = re.compile(r"\\text\s*\{|\\mathrm\s*\{|\\textbf\s*\{|\\mbox\s*\{")


def string_key(s: str) -> str:
    """Last-resort textual key: ``\\text{}`` wrappers, braces, spaces, case removed."""
    s = _STR_NORM_RE.sub("", s)
    s = s.replace("{", "").replace("}", "").replace(" ", "").replace("\\", "")
    return s.lower()
