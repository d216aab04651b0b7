"""A normal form for answers, and the exact comparison of two normal forms.

Both the ground truth and the prediction are cleaned (:func:`clean`, value preserving) and then read
as one of these forms; two answers are compared form against form:

* **word**: an answer in words from :data:`WORDS` ("even", "the function is odd", ``+\\infty``,
  "infinity", ``\\varnothing``, "no real solutions");
* **choice**: a multiple-choice letter (``D``, ``(D)``, ``\\text{(D)}``, ``\\textbf{(D)}\\ 7``);
* **base**: digits with a base subscript (``1101_2``, ``1101_{2}``, ``(1101)_2``);
* **compound**: a compound quantity (``7 feet 2 inches``): only the same quantity equals it;
* **interval**: a union of intervals, written in interval notation or as inequalities in one variable
  (``x < -2 \\text{ or } x > 5``, ``-1 < x \\le 3``, ``x \\in [0, 1)``, "all real numbers");
* **items**: one value or several, each optionally assigned to a variable: ``3``, ``y = 3``,
  ``a = 2, b = -7``, ``x = 1 \\text{ or } x = 6``, ``(2, -7)``, ``\\langle 1, 0, -2 \\rangle`` (a
  one-column ``pmatrix`` is the same tuple), ``\\{1, 2\\}``, ``x = \\pm 3``.

Comparison never guesses: a variable is part of the answer when both sides name one (``x = 3`` is
wrong for ``y = 3``; ``3`` is right); a tuple compares values in order (an assignment list in the
order written), a list of solutions or a set as a multiset; values go to the exact scalar comparison
of :mod:`nft.reward._numbers`. What it cannot decide it hands to math-verify as a pair of strings
(values without their variables, intervals in interval notation).
"""

from __future__ import annotations

import re
import unicodedata
from fractions import Fraction
from functools import lru_cache

from nft.reward._numbers import _NOT_UNITS, FAST_MAX_LEN, compare_scalar, number_value

#: Answers longer than this are never read here (left to math-verify).
MAX_READ = 1000
#: at most this many values in a list (a longer one is left to math-verify)
MAX_ITEMS = 64

# ----------------------------------------------------------------------------------------------
# cleaning (value-preserving, applied to both prediction and ground truth)
# ----------------------------------------------------------------------------------------------

_UNICODE_MAP = {
    "\u2212": "-", "\u2013": "-", "\u2014": "-",  # minus sign, dashes
    "\u00d7": "\\times ", "\u22c5": "\\cdot ", "\u00b7": "\\cdot ", "\u221a": "\\sqrt", "\u03c0": "\\pi ",
    "\u221e": "\\infty ", "\u00b0": "^\\circ", "\u2264": "\\le ", "\u2265": "\\ge ", "\u2260": "\\ne ",
    "\u2205": "\\emptyset ", "\u27e8": "\\langle ", "\u27e9": "\\rangle ", "\u222a": "\\cup ",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ",
    "\u2044": "/",  # fraction slash (NFKC of "½" is "1⁄2")
}
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\degree|\^\s*\{\s*o\s*\}")
_SPACING_RE = re.compile(r"(?<!\\)\\[,;:! ]|\\quad|\\qquad|~")  # not the "\\" of a matrix row
_LEFT_RIGHT_RE = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?=[()\[\]|.]|\\[{}]|\\[lr]angle)")
_ANGLE_RE = re.compile(r"\\langle\b|\\rangle\b")
_DFRAC_RE = re.compile(r"\\[dt]frac")
_THIN_SEP_RE = re.compile(r"(?<=\d)(?:,\s*\\!|\{,\}|\\[,!:; ])(?=\d{3}(?!\d))")  # 12,\!345  12{,}345  12\,345
_MATRIX_RE = re.compile(r"\\begin\{([pbBvV]?matrix)\}(.{0,2000}?)\\end\{\1\}", re.S)
_EULER_RE = re.compile(r"\\(?:mathrm|text|operatorname|rm|mathit)\s*\{\s*e\s*\}|\{\\rm\s+e\}")
_RELATION_RE = re.compile(r"\\(?:geqslant|leqslant|geq|leq|neq|gt|lt)(?![a-zA-Z])|>=|<=|!=")
_RELATION_OF = {"\\geqslant": "\\ge ", "\\geq": "\\ge ", ">=": "\\ge ", "\\leqslant": "\\le ", "\\leq": "\\le ",
                "<=": "\\le ", "\\neq": "\\ne ", "!=": "\\ne ", "\\gt": ">", "\\lt": "<"}


def _unicode_fold(s: str) -> str:
    out = []
    for ch in unicodedata.normalize("NFKC", s):
        if ch in _UNICODE_MAP:
            out.append(_UNICODE_MAP[ch])
        elif ch.isdigit() and not ch.isascii():
            d = unicodedata.decimal(ch, None)
            out.append(str(d) if d is not None else ch)
        else:
            out.append(ch)
    return "".join(out)


def _vector_as_tuple(m: "re.Match[str]") -> str:
    """A one-row or one-column ``pmatrix``/``bmatrix`` is a vector, written as the tuple ``(a, b, c)``."""
    if m.group(1) not in ("pmatrix", "bmatrix", "Bmatrix", "matrix"):
        return m.group(0)
    rows = [r.strip() for r in re.split(r"\\\\(?:\[[^\]]*\])?", m.group(2))]
    cells = [[c.strip() for c in r.split("&")] for r in rows if r]
    if not cells or any(not c for row in cells for c in row):
        return m.group(0)
    if len(cells) == 1 and len(cells[0]) >= 2:
        return "(" + ", ".join(cells[0]) + ")"
    if len(cells) >= 2 and all(len(r) == 1 for r in cells):
        return "(" + ", ".join(r[0] for r in cells) + ")"
    return m.group(0)


def clean(s: str) -> str:
    """Value-preserving cleanup: unicode folding, outer ``$``/``\\( \\)``/``\\[ \\]``, trailing period,
    ``\\left``/``\\right``, ``\\langle a, b\\rangle`` → ``(a, b)``, ``\\dfrac`` → ``\\frac``, spacing
    commands, degree marks, a leading ``\\$``, relations in one notation (``\\geq`` → ``\\ge``), a vector
    ``pmatrix`` → a tuple."""
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
    if re.search(r"(?<!\\)\$", s):
        s = re.sub(r"(?<!\\)\$", "", s)  # "$69$,$84$": math delimiters inside a list of answers
    s = _LEFT_RIGHT_RE.sub("", s)
    if "angle" in s:
        s = _ANGLE_RE.sub(lambda m: "(" if m.group() == "\\langle" else ")", s)
    if s.startswith("<") and s.endswith(">") and "," in s and not re.search(r"[<>]", s[1:-1]):
        s = "(" + s[1:-1] + ")"  # <-7, 16, 5>: a vector in plain text
    s = _DFRAC_RE.sub(r"\\frac", s)
    s = _THIN_SEP_RE.sub("", s)  # 1\,000\,000 -> 1000000 (only between digit groups)
    if "matrix" in s:
        s = _MATRIX_RE.sub(_vector_as_tuple, s)
    if "e" in s and "\\" in s:
        s = _EULER_RE.sub("e", s)  # \mathrm{e} is Euler's number e
    if "=" in s or "eq" in s or "\\gt" in s or "\\lt" in s:
        s = _RELATION_RE.sub(lambda m: _RELATION_OF[m.group()], s)
    s = _SPACING_RE.sub(" ", s)
    s = _DEGREE_RE.sub("", s)
    s = s.replace("\\displaystyle", "")
    if s.startswith("\\$"):
        s = s[2:]
    elif s.startswith("$") and s[1:2].isdigit():
        s = s[1:]
    return s.strip()


_STR_NORM_RE = re.compile(r"\\(?:text|mathrm|textbf|mbox|textit|mathbf|emph)\s*\{")


def string_key(s: str) -> str:
    """Last-resort textual key: ``\\text{}`` wrappers, braces, spaces, case removed."""
    s = _STR_NORM_RE.sub("", s)
    return s.replace("{", "").replace("}", "").replace(" ", "").replace("\\", "").lower()


# ----------------------------------------------------------------------------------------------
# answers in words
# ----------------------------------------------------------------------------------------------

#: Answers written in words, by the normal form they stand for. Each pattern must match the whole
#: answer (lower-cased, ``\text{}`` and articles removed, see :func:`_words_of`).
WORDS = {
    # "even", "an even function", "the function is even", "f is even"
    "even": r"(?:(?:the )?function (?:is )?|f(?:\(x\))? is )?even(?: function)?",
    # "odd", "odd function", "the function is odd"
    "odd": r"(?:(?:the )?function (?:is )?|f(?:\(x\))? is )?odd(?: function)?",
    # "neither", "neither even nor odd", "neither odd nor even"
    "neither": r"(?:(?:the )?function (?:is )?|f(?:\(x\))? is )?neither(?: even nor odd| odd nor even)?(?: function)?",
    # "\infty", "+\infty", "∞", "infinity", "positive infinity", "infinitely many"
    "\\infty": r"\+? ?\\infty|\+? ?infinity|positive infinity|infinitely many(?: [a-z]+)?|infinite",
    # "-\infty", "negative infinity", "minus infinity"
    "-\\infty": r"- ?\\infty|- ?infinity|negative infinity|minus infinity",
    # "\emptyset", "\varnothing", "\{\}", "the empty set", "no solution", "no real solutions", "none",
    # "there are no solutions", "no such x exists", "no roots"
    "\\emptyset": r"\\emptyset|\\varnothing|\\\{ ?\\\}|\{ ?\}|empty set|none|(?:there (?:is|are) )?no (?:real )?"
                  r"(?:solutions?|roots?|values?|such [a-z]+(?: exists?)?)(?: exists?)?",
    # "does not exist", "DNE", "the limit does not exist"
    "dne": r"(?:(?:the )?limit )?(?:does not exist|doesn't exist|dne)",
}
_WORD_RES = [(key, re.compile(p)) for key, p in WORDS.items()]
_WORD_STRIP_RE = re.compile(r"\\(?:text|textbf|textit|mathrm|mbox|emph|operatorname)\s*\{([^{}]*)\}")


def _words_of(s: str) -> str:
    s = _WORD_STRIP_RE.sub(r"\1", s).replace("$", "").replace("\\,", " ").lower()
    s = " ".join(s.replace("*", " ").split()).strip(" .!")
    return re.sub(r"^(?:the|an|a) ", "", s)


@lru_cache(maxsize=1 << 14)
def word_of(s: str) -> str | None:
    """The :data:`WORDS` key ``s`` stands for, or None."""
    if len(s) > 80 or not re.search(r"[a-z]|\\(?:infty|emptyset|varnothing)|\{\s*\\?\}", s, re.I):
        return None
    w = _words_of(s)
    for key, pat in _WORD_RES:
        if pat.fullmatch(w):
            return key
    return None


#: number words: "fifteen" is 15, "twenty-one" is 21, "three hundred" is 300
NUMBER_WORDS = {
    w: i for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen".split())
} | {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
_NUM_WORD = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
_NUM_WORDS_RE = re.compile(
    rf"(?i)(?<![\w-])(?:{_NUM_WORD})(?:(?:[\s-]+(?:and[\s-]+)?)(?:{_NUM_WORD}|hundred|thousand))*(?![\w-])"
)
#: determiners before "one" that make it a pronoun ("each one", "the one"), not a number
_PRONOUN_ONE_RE = re.compile(r"(?i)(?:each|the|this|that|which|any|every|no|a|another|only)\s+$")


def _words_value(words: str) -> int | None:
    total, cur = 0, None
    for w in re.split(r"[\s-]+", words.lower()):
        if w == "and":
            continue
        if w in NUMBER_WORDS:
            v = NUMBER_WORDS[w]
            if cur is not None and not (cur % 100 >= 20 and cur % 10 == 0 and v < 10) and cur % 100 != 0:
                return None  # "twenty one"-style only after a ten, "two three" is not a number
            cur = v if cur is None else cur + v
        elif w == "hundred" and cur is not None and cur < 100:
            cur *= 100
        elif w == "thousand" and cur is not None:
            total, cur = total + cur * 1000, None
        else:
            return None
    return total + (cur or 0) if (cur is not None or total) else None


def number_words(s: str) -> str:
    """``s`` with number words written as digits ("she has fifteen marbles" -> "she has 15 marbles");
    "one" after a determiner ("each one") is a pronoun and stays."""
    if not re.search(r"(?i)[a-z]", s):
        return s

    def sub(m: "re.Match[str]") -> str:
        if m.group().lower() == "one" and _PRONOUN_ONE_RE.search(s[max(0, m.start() - 10) : m.start()]):
            return m.group()
        v = _words_value(m.group())
        return m.group() if v is None else str(v)

    return _NUM_WORDS_RE.sub(sub, s)


# ----------------------------------------------------------------------------------------------
# multiple choice, bases, compound quantities
# ----------------------------------------------------------------------------------------------

_CHOICE_RE = re.compile(
    r"^(?:(?:option|choice|answer)\s*)?(?:\(\s*([A-Ea-e])\s*\)|([A-E])(?=$|[.:)]))[.:)]?\s*(.*)$", re.S
)
_CHOICE_WRAP_RE = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox)\s*\{\s*([^{}]*?)\s*\}")


@lru_cache(maxsize=1 << 14)
def choice_of(s: str) -> tuple[str, str] | None:
    """``(letter, rest)`` of a multiple-choice answer (``D``, ``(D)``, ``\\text{(D)}``,
    ``\\textbf{(D)}\\ 7`` -> ``("D", "7")``), or None."""
    if len(s) > 200 or not re.search(r"[A-Ea-e]", s):
        return None
    t = _CHOICE_WRAP_RE.sub(r"\1", s.strip(), count=1).strip().strip("*").strip()
    m = _CHOICE_RE.match(t)
    if m is None:
        return None
    rest = m.group(3).strip()
    if (rest[:1].isalpha() and m.group(2)) or re.match(r"(?i)(?:and|or|,)\W", rest + " "):
        return None  # "D. The point ...", "(A) or (C)": not one letter
    return (m.group(1) or m.group(2)).upper(), rest


_BASE_RE = re.compile(r"^\(?([0-9A-Za-z]+)\)?_\{?\(?(\d{1,2})\)?\}?$")


@lru_cache(maxsize=1 << 14)
def base_of(s: str) -> tuple[str, int] | None:
    """``(digits, base)`` of a number written with a base subscript (``1101_2``, ``(1101)_{2}``); the
    digits lower-cased without leading zeros. None unless every digit is below the base."""
    if "_" not in s or len(s) > 60:
        return None
    m = _BASE_RE.match(s.replace(" ", ""))
    if m is None or not re.search(r"\d", m.group(1)):
        return None
    base = int(m.group(2))
    if not 2 <= base <= 36 or any(int(c, 36) >= base for c in m.group(1)):
        return None
    return m.group(1).lower().lstrip("0") or "0", base


#: a number, then letters, then another number: the least a compound quantity has
_COMPOUND_HINT_RE = re.compile(r"\d[^a-zA-Z\d]*[a-zA-Z][^\d]*\d")
UNIT_TEXT_RE = re.compile(r"\\(?:text|mbox|mathrm|textrm)\s*\{([^{}]*)\}")
_COMPOUND_PART_RE = re.compile(r"\s*(?:,|\band\b|\+)?\s*([-+]?\d+(?:\.\d+)?)\s*([a-zA-Z]+)\.?")


def compound_quantity(s: str) -> list[tuple[Fraction, str]] | None:
    """``[(7, "feet"), (2, "inche")]`` for a quantity written as two or more number-unit pairs
    (``7 feet 2 inches``, ``2 \\text{ hours } 15 \\text{ minutes}``, ``3 h and 20 min``); None otherwise.
    Units are lower-cased with a plural ``s`` dropped so both sides normalise alike."""
    if not s or len(s) > 200 or _COMPOUND_HINT_RE.search(s) is None:
        return None
    t = UNIT_TEXT_RE.sub(lambda m: " " + m.group(1) + " ", s).replace("~", " ")
    parts = []
    pos = 0
    while pos < len(t):
        m = _COMPOUND_PART_RE.match(t, pos)
        if m is None:
            break
        unit = m.group(2).lower()
        if unit in _NOT_UNITS or unit in ("and", "or", "x", "y", "z", "n", "k"):
            return None
        if len(unit) > 3 and unit.endswith("s"):
            unit = unit[:-1]
        parts.append((Fraction(m.group(1)), unit))
        pos = m.end()
    if t[pos:].strip(" ."):
        return None
    return parts if len(parts) >= 2 else None


# ----------------------------------------------------------------------------------------------
# lists, tuples, sets, assignments
# ----------------------------------------------------------------------------------------------

_OPEN, _CLOSE = "([{", ")]}"
#: separators of a list at depth 0: ",", ";", "and", "or" (as words or \text{ and })
_SEP_RE = re.compile(r",|;|\s+(?:and|or)\s+|\\(?:text|mbox|textrm)\s*\{\s*(?:,\s*)?(?:and|or)\s*\}|\\quad|\\qquad")
_VAR = r"(?:\\(?:mathbf|vec|boldsymbol|bf)\s*\{?\s*[a-zA-Z]\s*\}?|[a-zA-Z]|\\[a-zA-Z]+)(?:_\{?[\w\\]{1,10}\}?)?(?:\([a-z]\))?"
_ASSIGN_RE = re.compile(rf"^\s*({_VAR})\s*=\s*(?=\S)")
_GROUPED_RE = re.compile(r"^[-+]?\d{1,3}(?:(?:,|\{,\})\d{3})+(?:\.\d+)?$")
_NOT_VARS = frozenset("\\frac \\sqrt \\pi \\infty \\cdot \\times \\log \\ln \\sin \\cos \\tan \\angle".split())


def _depths(s: str):
    """``(index, depth)`` for each character (escaped braces are brackets too)."""
    d = 0
    for i, c in enumerate(s):
        if c in _OPEN:
            d += 1
        elif c in _CLOSE:
            d -= 1
        yield i, d


def _wrapped(s: str, open_: str, close: str) -> bool:
    """``s`` is one bracketed group ``open_ ... close`` (the first bracket closes at the end)."""
    if not (s.startswith(open_) and s.endswith(close)) or len(s) < len(open_) + len(close):
        return False
    for i, d in _depths(s):
        if d == 0 and len(open_) - 1 <= i < len(s) - 1:
            return False
    return True


def split_top(s: str, grouped: bool = True) -> list[str]:
    """``s`` split at the list separators outside brackets (``1, 2 \\text{ or } 3`` -> 3 parts); with
    ``grouped``, ``1,234`` is one number (inside brackets, ``(12,102)`` is a pair)."""
    parts, start = [], 0
    zero = {i for i, d in _depths(s) if d == 0 and s[i] not in _CLOSE}
    for m in _SEP_RE.finditer(s):
        if m.start() in zero and (m.group() != "," or not grouped or not _GROUPED_RE.match(s.strip())):
            parts.append(s[start : m.start()])
            start = m.end()
    parts.append(s[start:])
    return [p.strip() for p in parts]


def _pm(value: str) -> list[str]:
    """``a \\pm b`` -> ``[a + b, a - b]``; a value without one ``\\pm`` at depth 0 -> ``[value]``."""
    k = value.find("\\pm")
    if k == -1 or value.count("\\pm") > 1 or value[k + 3 : k + 4].isalpha():
        return [value]
    a, b = value[:k].strip(), value[k + 3 :].strip()
    if re.search(r"[-+]", b):
        b = f"({b})"
    return [f"{a} + {b}".strip(" +"), f"{a} - {b}".strip() if a else f"-{b}"]


class Items:
    """Values, each with an optional variable. ``bracket``: ``"("`` a tuple or vector (ordered),
    ``"{"`` a set, ``""`` a bare list or one value."""

    __slots__ = ("bracket", "items")

    def __init__(self, bracket: str, items: list[tuple[str | None, str]]):
        self.bracket = bracket
        self.items = items

    def vars(self) -> list[str | None]:
        return [v for v, _ in self.items]

    def text(self) -> str:
        vals = ", ".join(x for _, x in self.items)
        return f"({vals})" if self.bracket == "(" else (f"\\{{{vals}\\}}" if self.bracket == "{" else vals)


def _var_value(part: str) -> tuple[str | None, str]:
    m = _ASSIGN_RE.match(part)
    if m is None or m.group(1) in _NOT_VARS or "=" in part[m.end() :] or re.search(r"[<>]|\\[lg]e\b", part):
        return None, part
    return re.sub(r"[{}\s]", "", m.group(1)), part[m.end() :].strip()


@lru_cache(maxsize=1 << 14)
def items_of(s: str) -> Items:
    """The values of ``s`` (see :class:`Items`): ``(2, -7)``, ``\\{1, 2\\}``, ``a = 2, b = -7``,
    ``(a, b) = (2, -7)``, ``x = 1 \\text{ or } x = 6``, ``x = \\pm 3``; anything else is one value."""
    s = s.strip()
    if len(s) > MAX_READ or not re.search(r"[,;=({\[]|\\pm|\s(?:and|or)\s|\\text", s):
        return Items("", [(None, s)])
    if "=" in s and s.startswith("(") and s.count("=") == 1:  # (a, b) = (2, -7)
        lhs, rhs = (t.strip() for t in s.split("="))
        names, vals = items_of(lhs), items_of(rhs)
        if (names.bracket == vals.bracket == "(" and len(names.items) == len(vals.items)
                and all(v is None and re.fullmatch(_VAR, x) for v, x in names.items)):
            return Items("(", [(re.sub(r"[{}\s]", "", n), x) for (_, n), (_, x) in zip(names.items, vals.items)])
    bracket, inner = "", s
    if _wrapped(s, "(", ")") or _wrapped(s, "[", "]"):
        bracket, inner = "(", s[1:-1]
    elif _wrapped(s, "\\{", "\\}"):
        bracket, inner = "{", s[2:-2]
    parts = split_top(inner, grouped=not bracket)
    if bracket == "(" and len(parts) < 2:
        return Items("", [(None, s)])  # "(x+1)", "[3]": brackets of one value
    if len(parts) > MAX_ITEMS or any(not p for p in parts):
        return Items("", [(None, s)])
    if len(parts) == 1 and not bracket:
        var, value = _var_value(parts[0])
        if var is not None and (_wrapped(value, "(", ")") or _wrapped(value, "\\{", "\\}")):
            return items_of(value)  # \mathbf{v} = (-7, 16, 5): the vector's name is not compared
    items = []
    for p in parts:
        var, value = _var_value(p)
        items.extend((var, x) for x in (_pm(value) if bracket != "(" else [value]))
    return Items(bracket, items)


# ----------------------------------------------------------------------------------------------
# intervals and inequalities
# ----------------------------------------------------------------------------------------------

_REL_SPLIT_RE = re.compile(r"(<|>|\\le(?![a-zA-Z])|\\ge(?![a-zA-Z])|\\ne(?![a-zA-Z]))")
_VAR_RE = re.compile(r"^(?:[a-zA-Z]|\\(?:alpha|beta|gamma|delta|epsilon|varepsilon|theta|lambda|mu|nu|rho|sigma|tau|"
                     r"phi|varphi|omega|xi|eta|kappa|psi|zeta))(?:_\{?\w{1,3}\}?)?$")
#: the whole real line in words or symbols: "all real numbers", \mathbb{R}, (-\infty, \infty)
REALS = r"\\mathbb\s*\{?R\}?|\\R|all real numbers|all reals|every real number|the real line|\(-\\infty, ?\\infty\)"
_REALS_RE = re.compile(rf"^(?:{REALS})$", re.I)
_IN_RE = re.compile(r"^([a-zA-Z])\s*\\in\s*")
_FLIP = {"<": ">", ">": "<", "\\le": "\\ge", "\\ge": "\\le", "\\ne": "\\ne"}


def _inequality(s: str) -> tuple[str, str] | None:
    """``(interval notation, variable)`` of an inequality in one variable with one or two bounds
    (``-1 < x \\le 4`` -> ``(-1, 4]``; ``x \\ne a`` -> two pieces), or None."""
    parts = [p.strip() for p in _REL_SPLIT_RE.split(s)]
    if len(parts) == 3:
        a, op, b = parts
        if not _VAR_RE.match(a):
            a, b, op = b, a, _FLIP[op]  # 5 \le x is x \ge 5
        if not _VAR_RE.match(a) or not b or _VAR_RE.match(b):
            return None
        if op == "\\ne":
            return f"(-\\infty, {b}) \\cup ({b}, \\infty)", a
        if op in ("<", "\\le"):
            return "(-\\infty, " + b + ("]" if op == "\\le" else ")"), a
        return ("[" if op == "\\ge" else "(") + b + ", \\infty)", a
    if len(parts) == 5:
        a, op1, v, op2, b = parts
        if op1 in (">", "\\ge") and op2 in (">", "\\ge"):  # a > x > b written downwards
            a, op1, op2, b = b, _FLIP[op2], _FLIP[op1], a
        if not _VAR_RE.match(v) or not a or not b or _VAR_RE.match(a) or _VAR_RE.match(b):
            return None
        if op1 in ("<", "\\le") and op2 in ("<", "\\le"):
            return ("[" if op1 == "\\le" else "(") + f"{a}, {b}" + ("]" if op2 == "\\le" else ")"), v
    return None


@lru_cache(maxsize=1 << 14)
def interval_of(s: str) -> tuple[str, str | None] | None:
    """``(interval notation, variable)`` of a set of reals: inequalities in one variable joined by "or"
    (``x < -2 \\text{ or } x > 5`` -> ``(-\\infty, -2) \\cup (5, \\infty)``), ``x \\in ...``, "all real
    numbers", or interval notation itself (``[0, 1)``, unions, anything with ``\\infty``); None otherwise.
    A plain ``(a, b)`` is not read as an interval (it may be a point)."""
    s = s.strip()
    if len(s) > MAX_READ:
        return None
    var = None
    m = _IN_RE.match(s)
    if m is not None:
        var, s = m.group(1), s[m.end() :]
    if _REALS_RE.match(s):
        return "(-\\infty, \\infty)", var
    if not _REL_SPLIT_RE.search(s):
        one = len(s) >= 5 and s[0] in "([" and s[-1] in ")]" and _wrapped(s, s[0], s[-1]) and len(
            split_top(s[1:-1], grouped=False)) == 2
        plain = s[0] + s[-1] == "()" and "\\infty" not in s
        return (s, var) if ("\\cup" in s or one) and not (one and plain) else None
    if re.search(r"\band\b|[,;]", s):
        return None  # "x > 1 and x < 3", "x > 1, x < 3": left to math-verify
    pieces = [_inequality(p) for p in split_top(s)]
    if None in pieces or len({v for _, v in pieces}) != 1 or (var is not None and pieces[0][1] != var):
        return None
    return " \\cup ".join(t for t, _ in pieces), pieces[0][1]


def inequality_as_interval(s: str) -> str | None:
    """``-1 < x \\le 4`` -> ``(-1, 4]``, ``x \\ge 5`` -> ``[5, \\infty)``, ``x < 2 \\text{ or } x > 5`` ->
    ``(-\\infty, 2) \\cup (5, \\infty)``; None for anything but inequalities in one variable."""
    s = clean(s)
    r = interval_of(s) if _REL_SPLIT_RE.search(s) else None
    return None if r is None else r[0]


def _match(g: list, p: list, eq) -> bool | None:
    """Multiset equality of ``g`` and ``p`` under ``eq`` (True / False / None): True when each element of
    ``g`` pairs with a distinct element of ``p`` found equal; False when some element of ``g`` has no
    candidate that could be equal; else None."""
    if len(g) != len(p):
        return False
    free = list(range(len(p)))
    unsure = False
    for x in g:
        verdicts = [(j, eq(x, p[j])) for j in free]
        hit = next((j for j, v in verdicts if v is True), None)
        if hit is not None:
            free.remove(hit)
            continue
        if not any(v is None for _, v in verdicts):
            return False
        unsure = True
    return None if unsure else True


# ----------------------------------------------------------------------------------------------
# the decision
# ----------------------------------------------------------------------------------------------

Verdict = tuple[bool | None, tuple[str, str] | None]


def _value(g: str, p: str, depth: int) -> Verdict:
    """One value against one value: the forms of :func:`decide` on the value itself when it has
    structure, else the exact scalar comparison (None: math-verify on the pair)."""
    if depth < 4 and (g != g.strip() or re.search(r"[,;=(\[{_<>]|\\|[a-zA-Z]{2}", g + p)):
        return decide(g, p, depth + 1)
    v = compare_scalar(g, p) if len(g) <= 4 * FAST_MAX_LEN and len(p) <= 4 * FAST_MAX_LEN else None
    return v, (None if v is not None else (g, p))


def as_number(s: str) -> str:
    """Number words as a number ("fifteen" -> ``15``, ``\\text{fifteen apples}`` -> ``15 apples``)."""
    if re.search(r"\d|\\frac", s) or not re.search(r"(?i)[a-z]{3}", s):
        return s
    t = number_words(_words_of(s))
    return t if number_value(t) is not None else s


def decide(gold: str, pred: str, depth: int = 0) -> Verdict:
    """Compare two cleaned answers through their normal forms: ``(True/False, None)`` when decided
    exactly, ``(None, (gold', pred'))`` when math-verify must compare ``gold'`` with ``pred'``."""
    g, p = as_number(gold), as_number(pred)
    gc, pc = compound_quantity(g), compound_quantity(p)
    if gc is not None or pc is not None:
        return gc == pc, None  # "7 feet 2 inches" is not 7
    gw, pw = word_of(g), word_of(p)
    if gw is not None or pw is not None:
        if gw is not None and pw is not None:
            return gw == pw, None
        if "\\infty" in (gw or "") + (pw or ""):
            return None, (g, p)  # "\infty" for "+\infty" in another spelling
        return False, None
    gch, pch = choice_of(g), choice_of(p)
    if gch is not None:
        return (pch is not None and pch[0] == gch[0]), None
    if pch is not None:  # "(D) 7" for 7: the value after the letter
        return _value(g, pch[1], depth) if pch[1] else (False, None)
    gb, pb = base_of(g), base_of(p)
    if gb is not None or pb is not None:  # 1101_2: the same digits in the same base
        gb = gb or (_digits(g), 10)
        pb = pb or (_digits(p), gb[1])
        return (gb[0] is not None and gb == pb), None
    gi, pi = interval_of(g), interval_of(p)
    if gi is not None or pi is not None:  # sets of reals: math-verify compares intervals and unions exactly
        if gi is not None and pi is not None and None not in (gi[1], pi[1]) and gi[1] != pi[1]:
            return False, None  # x > 5 is not y > 5
        gt, pt = (gi[0] if gi else g), (pi[0] if pi else p)
        return (True, None) if gt.replace(" ", "") == pt.replace(" ", "") else (None, (gt, pt))
    return _compare_items(items_of(g), items_of(p), g, p, depth)


def _digits(s: str) -> str | None:
    return (s.lower().lstrip("0") or "0") if re.fullmatch(r"[0-9A-Za-z]+", s) else None


def _compare_items(G: Items, P: Items, g: str, p: str, depth: int) -> Verdict:
    if len(G.items) == 1 and len(P.items) == 1:
        (gv, gx), (pv, px) = G.items[0], P.items[0]
        if gv is not None and pv is not None and gv != pv:
            return False, None  # x = 3 is not y = 3
        if G.bracket == P.bracket and (gv is not None or pv is not None):
            return _value(gx, px, depth)
        if gv is None and pv is None and G.bracket == P.bracket:
            v = compare_scalar(gx, px) if len(gx) <= 4 * FAST_MAX_LEN and len(px) <= 4 * FAST_MAX_LEN else None
            return v, (None if v is not None else (g, p))
        return None, (g, p)
    if len(G.items) == 1 or len(P.items) == 1:
        if len(G.items) == 1 and G.items[0][0] is None and P.bracket != "":
            return None, (g, p)  # a tuple or set against a value that is not a list: math-verify
        return False, None  # one value against several
    gvars, pvars = G.vars(), P.vars()
    eq = lambda a, b: _value(a, b, depth)[0]  # noqa: E731
    named = lambda vs: None not in vs and len(set(vs)) == len(vs)  # noqa: E731
    if named(gvars) and named(pvars):  # a = 2, b = -7 against b = -7, a = 2: by variable
        if set(gvars) != set(pvars):
            return False, None
        px = dict(P.items)
        P = Items("(", [(v, px[v]) for v in gvars])
        verdicts = [eq(a, b) for (_, a), (_, b) in zip(G.items, P.items)]
    elif named(pvars) and set(gvars) == {None} and G.bracket != "{":
        # a = 2, h = -1, k = -18 for (2, -1, -18) or "2, -1, -18": the values in the order written, or
        # alphabetical when every variable is one letter, as problems name them: (a, b), (x, y, z)
        if len(G.items) != len(P.items):
            return False, None
        orders = [P.items] + ([sorted(P.items)] if all(re.fullmatch(r"[a-zA-Z]", v) for v in pvars) else [])
        unsure = None
        for its in orders:
            verdicts = [eq(a, b) for (_, a), (_, b) in zip(G.items, its)]
            if all(verdicts):
                return True, None
            if False not in verdicts and unsure is None:
                unsure = Items("(", its)
        return (False, None) if unsure is None else (None, (Items("(", G.items).text(), unsure.text()))
    elif G.bracket == "(" and P.bracket != "{":
        if len(G.items) != len(P.items):
            return False, None
        if None not in pvars and not named(pvars):
            return False, None  # x = 2 or x = -7: solutions of one variable, not a pair
        verdicts = [eq(a, b) for (_, a), (_, b) in zip(G.items, P.items)]
    elif G.bracket != "(" and P.bracket != "(":
        gv, pv = set(gvars) - {None}, set(pvars) - {None}
        if len(gv) == 1 and len(pv) == 1 and gv != pv:
            return False, None  # x = 1, x = 6 for the solutions in y
        v = _match([x for _, x in G.items], [x for _, x in P.items], eq)
        return v, (None if v is not None else (G.text(), P.text()))
    else:
        return None, (g, p)
    if False in verdicts:
        return False, None
    if all(verdicts):
        return True, None
    return None, (Items("(", G.items).text(), Items("(", P.items).text())  # compared in order


def fast_compare(gold: str, pred: str) -> bool | None:
    """The verdict of :func:`decide` on two cleaned answers: True / False, or None (math-verify)."""
    return decide(gold, pred)[0]
