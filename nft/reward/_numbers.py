"""Exact numbers (pure Python, no sympy): plain numbers with how they were written, exact integer
expressions (:class:`_ExprParser`), radicals, and the exact comparison of two scalars.

A number is *exact* unless written with a decimal point (a repeating decimal is exact); a decimal
stands for any value within half a unit of its last digit. Every function is bounded (inputs longer
than :data:`FAST_MAX_LEN` are not read) and never raises on any ``str``.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import lru_cache

#: Answers longer than this are left to math-verify: never read as a plain number here.
FAST_MAX_LEN = 80

_NUM_RE = re.compile(
    r"^(?P<sign>[-+]?)(?:"
    r"(?P<grp>\d{1,3}(?:(?:,|\{,\})\d{3})+(?:\.\d+)?)"  # 1,234,567(.89)
    r"|(?P<dec>\d+(?:\.\d*)?|\.\d+)(?:(?:[eE](?P<e1>[-+]?\d{1,3}))|(?:\s*\\(?:times|cdot)\s*10\s*\^\s*\{?\s*(?P<e2>[-+]?\d{1,3})\s*\}?))?"
    r"|\\frac\s*\{\s*(?P<fn>[-+]?\d+)\s*\}\s*\{\s*(?P<fd>[-+]?\d+)\s*\}"
    r"|\\frac(?P<fa>\d)(?P<fb>\d)"
    r"|(?P<sn>\d+)\s*/\s*(?P<sd>\d+)"
    r")$"
)
#: repeating decimals: 0.\overline{6}, 1.\overline{27}, 0.1\overline{6}, 0.\dot{3}, 0.(3)
_REPEAT_RE = re.compile(
    r"^(?P<sign>[-+]?)(?P<i>\d*)\.(?P<f>\d*)\s*(?:\\(?:overline|bar|dot|overset\s*\{\s*\.\s*\})\s*(?:\{\s*(?P<r>\d{1,40})\s*\}|(?P<r1>\d))"
    r"|\((?P<r2>\d{1,40})\))$"
)
_ASSIGN_RE = re.compile(r"^[a-zA-Z]\s*(?:_\{?\w+\}?)?\s*=\s*")
_TRAILING_UNIT_RE = re.compile(
    r"^(?P<num>.*?\d\}?)\s*(?:\\(?:text|mbox|mathrm)\s*\{(?P<t>[^{}]*)\}|\s(?P<w>[a-zA-Z]{2,12})\.?)$"
)
#: words after a number that are mathematics, not units ("2 pi" is not 2)
_NOT_UNITS = frozenset(
    "pi sqrt cdot times ln log sin cos tan cot sec csc exp and or to i e mod pmod infty".split()
)
#: a number word with scale multiplies: "3 million" is 3000000, never 3
_SCALES = {"hundred": 10**2, "thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_SCALE_RE = re.compile(
    r"^(?P<num>.*?\d)\s*(?:\\(?:text|mbox|mathrm)\s*\{\s*(?P<t>[a-zA-Z]+)\s*\}|(?P<w>[a-zA-Z]+))$"
)
_PERCENT_RE = re.compile(r"\s*(?:\\%|%|\\text\{\s*percent\s*\}|percent)$")


class Num:
    """An exact rational with the facts the verifier needs about how it was written.

    ``ulp`` is None for an exact number (an integer, a fraction, a repeating decimal, an exact
    expression), and for a decimal (``0.33``, ``1.5e3``) the unit in its last written digit
    (``1/100``, ``100``): the decimal may stand for any value within half of it."""

    __slots__ = ("value", "is_int", "percent", "ulp")

    def __init__(self, value: Fraction, is_int: bool, percent: bool, ulp: Fraction | None = None):
        self.value = value
        self.is_int = is_int
        self.percent = percent
        self.ulp = ulp

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Num({self.value}, is_int={self.is_int}, percent={self.percent}, ulp={self.ulp})"


def _parse_plain_number(s: str) -> tuple[Fraction, bool, Fraction | None] | None:
    """``(value, is_int, ulp)`` of a plain number (see :class:`Num`), or None."""
    s = s.strip()
    if s.startswith("{") and s.endswith("}"):
        s = s[1:-1].strip()
    if s.startswith("(") and s.endswith(")") and "," not in s:
        s = s[1:-1].strip()
    m = _NUM_RE.match(s)
    if m is None:
        r = _REPEAT_RE.match(s)
        if r is None:
            return None
        ip, fp = r.group("i") or "0", r.group("f")
        rep = r.group("r") or r.group("r1") or r.group("r2")
        # x = I.F(R)(R)... = (IFR - IF) / (10^|F| (10^|R| - 1))
        val = Fraction(int(ip + fp + rep) - int(ip + fp), 10 ** len(fp) * (10 ** len(rep) - 1))
        return (-val if r.group("sign") == "-" else val), False, None
    neg = m.group("sign") == "-"
    ulp = None
    if m.group("grp") is not None:
        txt = m.group("grp").replace("{,}", "").replace(",", "")
        val = Fraction(txt)
        is_int = "." not in txt
        if not is_int and txt.split(".")[1].strip("0"):
            ulp = Fraction(1, 10 ** len(txt.split(".")[1]))
    elif m.group("dec") is not None:
        txt = m.group("dec")
        val = Fraction(txt if txt != "." else "0")
        exp = m.group("e1") or m.group("e2")
        is_int = "." not in txt and exp is None
        if "." in txt and (exp is not None or txt.split(".")[1].strip("0")):
            # "5.0" states an integer: exact (a finer "5.04" is not 5.0); "0.50", "1.5e3" are decimals
            ulp = Fraction(1, 10 ** len(txt.split(".")[1]))
        if exp is not None:
            val *= Fraction(10) ** int(exp)
            ulp = None if ulp is None else ulp * Fraction(10) ** int(exp)
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
    return val, is_int, ulp


@lru_cache(maxsize=1 << 16)
def number_value(s: str) -> Num | None:
    """Exact value of a plain number written as an integer, decimal, repeating decimal
    (``0.\\overline{6}``), ``a/b``, ``\\frac{a}{b}``, scientific notation, with thousands separators, an
    optional ``x =``, a scale word (``3 million``), a trailing unit word or ``\\text{...}`` unit, a
    leading ``\\$``, a trailing percent sign. ``None`` for anything else (including anything longer
    than :data:`FAST_MAX_LEN`, and compound quantities such as ``7 feet 2 inches``).

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
        ms = _SCALE_RE.match(s)
        word = None if ms is None else (ms.group("t") or ms.group("w")).lower()
        if word is not None and word.rstrip("s") in _SCALES:
            inner = _parse_plain_number(ms.group("num"))
            if inner is None:
                return None
            val = inner[0] * _SCALES[word.rstrip("s")]
            ulp = None if inner[2] is None else inner[2] * _SCALES[word.rstrip("s")]
            return Num(val, val.denominator == 1 and inner[2] is None, percent, ulp)
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
    val, is_int, ulp = parsed
    return Num(val, is_int, percent, ulp)


# ----------------------------------------------------------------------------------------------
# exact expressions: integers combined with + - * / ^ ! \frac, evaluated exactly (bounded size)
# ----------------------------------------------------------------------------------------------

_EXPR_HINT_RE = re.compile(r"[\^!/*+(]|\\frac|\\cdot|\\times")
#: letters other than LaTeX commands, decimal points, commas: never an exact integer expression
_EXPR_REJECT_RE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]|[.,]")
_EXPR_TOKEN_RE = re.compile(r"\s*(\d+|\\frac|\\[dt]frac|\\cdot|\\times|\\left|\\right|[-+*/^!(){}])")
#: largest exponent, factorial argument and result size (bits) an exact expression may reach
MAX_EXPONENT = 10_000
MAX_FACTORIAL = 3_000
MAX_BITS = 200_000


class _Inexact(Exception):
    """Not an exact expression of the supported grammar (or too large to evaluate cheaply)."""


def _tokens(s: str) -> list[str] | None:
    out = []
    pos = 0
    s = s.strip()
    while pos < len(s):
        m = _EXPR_TOKEN_RE.match(s, pos)
        if m is None:
            return None
        tok = m.group(1)
        if tok in ("\\left", "\\right"):
            pos = m.end()
            continue
        out.append("\\frac" if tok.endswith("frac") else tok)
        pos = m.end()
    return out


def _bits(v: Fraction) -> int:
    return v.numerator.bit_length() + v.denominator.bit_length()


class _ExprParser:
    """Recursive descent over integer tokens; raises :class:`_Inexact` on anything else. Depth and
    size are bounded (the input is at most :data:`FAST_MAX_LEN` characters)."""

    def __init__(self, toks: list[str]):
        self.t = toks
        self.i = 0

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, want: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            raise _Inexact
        self.i += 1
        return tok

    def expr(self) -> Fraction:
        v = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            w = self.term()
            v = v + w if op == "+" else v - w
        return v

    def term(self) -> Fraction:
        v = self.unary()
        while self.peek() in ("*", "/", "\\cdot", "\\times"):
            op = self.take()
            w = self.unary()
            if op == "/":
                if w == 0:
                    raise _Inexact
                v = v / w
            else:
                v = v * w
            if _bits(v) > MAX_BITS:
                raise _Inexact
        return v

    def unary(self) -> Fraction:
        if self.peek() in ("-", "+"):
            op = self.take()
            v = self.unary()
            return -v if op == "-" else v
        return self.power()

    def power(self) -> Fraction:
        base = self.postfix()
        if self.peek() != "^":
            return base
        self.take("^")
        if self.peek() == "{":
            self.take("{")
            e = self.expr()
            self.take("}")
        else:
            tok = self.take()
            if not tok.isdigit() or len(tok) != 1:
                raise _Inexact  # "3^10" is 3^1 0 in LaTeX: ambiguous
            e = Fraction(int(tok))
        if self.peek() == "^" or e.denominator != 1 or abs(e) > MAX_EXPONENT:
            raise _Inexact
        if base == 0 and e < 0:
            raise _Inexact
        if _bits(base) * abs(int(e)) > MAX_BITS:
            raise _Inexact
        return base ** int(e)

    def postfix(self) -> Fraction:
        v = self.atom()
        while self.peek() == "!":
            self.take("!")
            if v.denominator != 1 or v < 0 or v > MAX_FACTORIAL:
                raise _Inexact
            v = Fraction(math.factorial(int(v)))
        return v

    def atom(self) -> Fraction:
        tok = self.take()
        if tok.isdigit():
            if len(tok) > 400:
                raise _Inexact
            return Fraction(int(tok))
        if tok in ("(", "{"):
            v = self.expr()
            self.take(")" if tok == "(" else "}")
            return v
        if tok == "\\frac":
            self.take("{")
            a = self.expr()
            self.take("}")
            self.take("{")
            b = self.expr()
            self.take("}")
            if b == 0:
                raise _Inexact
            return a / b
        raise _Inexact


def exact_value(s: str) -> Fraction | None:
    """Exact rational value of an expression built from integers with ``+ - * / \\cdot \\times``,
    ``^`` (integer exponents), ``!``, ``\\frac{}{}``, parentheses and braces — ``\\frac{1}{3^{50}}``,
    ``1/(100!)``, ``2^{10}-1`` — or None (decimals, symbols, anything else, or values beyond
    :data:`MAX_BITS`). Pure Python, at most :data:`FAST_MAX_LEN` characters are read."""
    if not s or len(s) > FAST_MAX_LEN or _EXPR_HINT_RE.search(s) is None or _EXPR_REJECT_RE.search(s) is not None:
        return None
    toks = _tokens(s)
    if not toks:
        return None
    p = _ExprParser(toks)
    try:
        v = p.expr()
    except (_Inexact, RecursionError, ZeroDivisionError, OverflowError, ValueError):
        return None
    return v if p.i == len(toks) else None


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


@lru_cache(maxsize=1 << 16)
def _scalar_num(s: str) -> Num | None:
    n = number_value(s)
    if n is None:
        v = exact_value(s)
        if v is not None:
            n = Num(v, False, False, None)
    return n


def _rad_within(r: Rad, center: Fraction, half: Fraction) -> bool:
    """``center - half < sign*sqrt(square) < center + half``, exactly."""
    lo, hi = center - half, center + half
    if r.sign < 0:
        lo, hi = -hi, -lo  # -sqrt(q) in (lo, hi)  <=>  sqrt(q) in (-hi, -lo)
    q = r.square
    above_lo = lo < 0 or q > lo * lo
    below_hi = hi > 0 and q < hi * hi
    return above_lo and below_hi


def _compare_values(g: Num, p: Num) -> bool:
    """Two plain numbers with different values (same percent flag).

    * both exact (integers, fractions, repeating decimals, exact expressions): different -> wrong;
    * an exact ground truth and a decimal answer: wrong — a rounded decimal (``0.6667`` for ``2/3``) is
      not the exact answer (a decimal that *equals* it, ``0.5`` for ``1/2``, was accepted before);
    * a decimal ground truth (the problem may have rounded): right iff the answer lies strictly
      within half a unit of its last digit (``1/3`` or ``0.3333`` for ``0.33``); an answer written
      with fewer or the same digits must be equal. The tolerance is absolute in the ground truth's
      own last digit, so it never spans a change of magnitude.
    """
    if g.ulp is None:
        return False
    if p.ulp is not None and p.ulp >= g.ulp:
        return False
    return abs(p.value - g.value) < g.ulp / 2


def compare_scalar(gold: str, pred: str) -> bool | None:
    """Two cleaned scalars (plain numbers, exact expressions, radicals ``k\\sqrt{m}``): True / False
    when decided exactly (see :func:`_compare_values`; a percent sign on one side: equal values, or
    ``pred/100 == gold``, or ``pred == gold/100``), None when math-verify must decide."""
    g = _scalar_num(gold)
    p = _scalar_num(pred)
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
        return _compare_values(g, p)
    gr = radical_value(gold) if g is None else (_as_rad(g) if g.ulp is None and not g.percent else None)
    pr = radical_value(pred) if p is None else (_as_rad(p) if p.ulp is None and not p.percent else None)
    if gr is not None and pr is not None:
        return gr == pr
    if g is not None and g.ulp is not None and not g.percent and pr is not None:
        return _rad_within(pr, g.value, g.ulp / 2)  # "1.41" for sqrt(2)-valued answers
    if p is not None and p.ulp is not None and not p.percent and gr is not None:
        return False  # a decimal for an exact radical is a rounded value, not the answer
    return None


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

