"""Final-answer extraction and cheap normalization (pure Python, no sympy).

Extraction reads a response the way a careful grader does:

1. the last complete ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces; ``\\boxed 5`` too), and the last
   ``Answer: ...`` line (the DAPO-Math-17k format); whichever of the two ends later in the text wins
   (an ``Answer:`` line that itself holds a ``\\boxed{}`` yields the boxed content);
2. otherwise a final-answer sentence ("the final answer is ...", "the answer is ...") that sits in the
   last :data:`SENTENCE_TAIL_CHARS` characters of the response;
3. otherwise a complete closing sentence that states a value ("So the largest value is -7.");
4. otherwise there is no final answer (a truncated response): the caller scores it as wrong.

An ``Answer:`` line or sentence that wraps the value in words yields the value
(:func:`answer_from_words`); several boxes joined only by connectives form one answer
(:func:`final_box_group`). A value that only appears inside the reasoning is never picked up.

Every function here is linear in the input size (no backtracking-prone regex) and never raises on
any ``str`` input.
"""

from __future__ import annotations

import math
import re
import unicodedata
from fractions import Fraction
from functools import lru_cache

#: A final-answer sentence counts only if it starts within this many characters of the end.
SENTENCE_TAIL_CHARS = 400
#: Extracted answers longer than this are kept for math-verify but never go through the fast path.
FAST_MAX_LEN = 80

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\b")
_ANSWER_LINE_RE = re.compile(
    r"(?im)^[ \t>#*_]*(?:\*\*)?(?:final[ \t]+)?answer[ \t]*(?:\*\*)?[ \t]*[:：][ \t]*(?:\*\*)?([^\n]*)$"
)
_SENTENCE_RE = re.compile(r"(?i)\b(?:the[ \t]+)?(?:final[ \t]+)?answer[ \t]+is[ \t]*[:：]?[ \t]*")
_BRACE_TOKEN_RE = re.compile(r"\\[{}]|[{}]")


def _boxes_from_end(text: str, state: dict | None = None):
    """Complete ``\\boxed``/``\\fbox`` of ``text`` as ``(content, start, end)``, from the last to the
    first (a generator: callers stop early).

    Linear in the part of ``text`` it reads: braces are matched right to left, each segment between
    two consecutive boxes once (the ``{`` at ``j`` closes at the nearest ``}`` to its right that is
    unmatched within ``text[j+1:]``, the same brace a left-to-right depth count finds), so thousands of
    unclosed ``\\boxed{`` cost no more than one pass, and the usual case (the last box closes) reads
    only the text after it."""
    if "\\boxed" not in text and "\\fbox" not in text:
        return
    starts = [m for m in _BOX_RE.finditer(text)]
    first = True
    n = len(text)
    closers: list[int] = []  # end positions (just past) of '}' not yet matched, nearest last
    scanned_from = n  # text[scanned_from:] has been pushed through the stack
    for m in reversed(starts):
        j = m.end()
        while j < n and text[j] in " \t":
            j += 1
        if j < n and text[j] == "{":
            if j < scanned_from:
                for tok in reversed(list(_BRACE_TOKEN_RE.finditer(text, j + 1, scanned_from))):
                    t = tok.group()
                    if t == "}":
                        closers.append(tok.end())
                    elif t == "{" and closers:
                        closers.pop()
                scanned_from = j
            # the '{' at j itself: matched by the nearest unmatched '}' to its right
            if closers:
                end = closers.pop()
                scanned_from = j  # this '{' is now consumed as well
                first = False
                yield text[j + 1 : end - 1], m.start(), end
            elif first and state is not None:
                state["unclosed_last"] = m.start()  # the last box of the text never closes
            first = False
            continue  # unbalanced (truncated) box: not an answer
        first = False
        # "\boxed 5": a single token up to whitespace/$
        k = j
        while k < n and text[k] not in " \t\n$":
            k += 1
        if k > j and j > m.end():
            yield text[j:k], m.start(), k


def all_boxed(text: str) -> list[tuple[str, int, int]]:
    """Every complete ``\\boxed``/``\\fbox`` of ``text`` as ``(content, start, end)``, in order
    (linear, see :func:`_boxes_from_end`)."""
    return list(reversed(list(_boxes_from_end(text))))


def last_boxed(text: str) -> tuple[str, int] | None:
    """Content of the last complete ``\\boxed``/``\\fbox`` and the index where it ends, or None."""
    for content, _start, end in _boxes_from_end(text):
        return content, end
    return None


#: Text allowed between the boxes of one final answer written as several boxes
#: ("\boxed{(1,4)} and \boxed{(4,1)}", "$x = \boxed{2}$ or $x = \boxed{-3}$").
_BOX_GAP_RE = re.compile(r"^(?:[\s$,;.]|\\[()]|\\quad|\\qquad|\\text\{\s*(?:and|or)\s*\}|\band\b|\bor\b|[a-zA-Z]\s*=)*$")


#: at most this many boxes form one answer (a longer run is scored as its last boxes: a list that long
#: is not a careful answer anyway)
MAX_GROUP_BOXES = 32


def final_box_group(text: str) -> list[str]:
    """Contents of the boxes that together form the final answer: the last box and the boxes right
    before it that are separated from it only by connectives (``and``, ``or``, commas, ``$``, ``x =``).
    A box followed by a correction ("... wait, it is \\boxed{7}") is not part of the group."""
    boxes = _boxes_from_end(text)
    last = next(boxes, None)
    if last is None:
        return []
    group = [last]
    for prev in boxes:
        gap = text[prev[2] : group[-1][1]]
        if len(gap) > 40 or not _BOX_GAP_RE.match(gap) or len(group) >= MAX_GROUP_BOXES:
            break
        group.append(prev)
    return [g[0] for g in reversed(group)]


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
    else:
        content = answer_from_words(content)
    return content, last.end(1)


_MATH_SEG_RE = re.compile(r"\$\$?([^$]{1,300})\$\$?|\\\(([^()]{1,300}?)\\\)")
_LATEX_CMD_RE = re.compile(r"\\[a-zA-Z]+\s*(?:\{[^{}]{0,100}\})?")
_WORD3_RE = re.compile(r"[A-Za-z]{3,}")
#: words that negate, bound or hedge a value ("not 5", "at least 5", "about 5", "5 or more"): a value
#: is never taken out of such a sentence. "more", "less", "fewer", "least", "most" bound a value only
#: in such constructions ("at least 5", "at most 5", "5 or more", "5 or fewer", "more than 5" ("than"),
#: "no more ..." ("no")); on their own they are ordinary words ("He needs 7 more apples" -> 7, "The least
#: $n$ is $11$" -> 11)
_NEGATION_RE = re.compile(
    r"(?i)\b(?:not|no|never|neither|nor|cannot|isn't|aren't|can't|won't|instead|but|than|"
    r"at\s+(?:the\s+)?(?:least|most|max|maximum|minimum)|"
    r"or\s+(?:more|less|fewer|greater|larger|bigger|smaller|higher|lower|above|below|so|up)|"
    r"more\s+or\s+less|and\s+(?:more|up|above|over)|upwards|"
    r"about|approximately|around|roughly|nearly|almost|over|under|between|maybe|perhaps|possibly|either|"
    r"probably|likely|guess|estimate)\b"
)
_COPULA_RE = re.compile(r"(?i)(?:^|\s)(?:is|are|was|were|equals|be|becomes)\s+|\s=\s")
_SIGNED_NUM = r"[-+\u2212]?(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+)?"
_LEAD_NUM_RE = re.compile(
    r"^(" + _SIGNED_NUM + r")(?:\s*(\\?%|percent\b|(?:hundred|thousand|million|billion|trillion)\b))?"
    r"(?!\s*[\\^_*/+\-=({\[\u00d7\u00b7!]|[\w.]\w|\s*,\s*[-+\u2212]?\d)"  # "2\sqrt3", "3 \times 10^5", "2^{10}", "1,2,3"
)
_NUM_TOKEN_RE = re.compile(r"(?<![\w.])" + _SIGNED_NUM + r"(?![\w])")
#: "3 and 5", "1, 2 or 4": several values stated together
_NUM_LIST_RE = re.compile(r"^(" + _SIGNED_NUM + r")((?:\s*(?:,\s+(?:and\s+|or\s+)?|\s(?:and|or)\s)\s*" + _SIGNED_NUM + r")+)(?![\w.\\^])")
_NUM_LIST_SPLIT_RE = re.compile(r"\s*(?:,\s+(?:and\s+|or\s+)?|\s(?:and|or)\s)\s*")  # "1,234" is one number


#: a compound quantity at the start of a sentence's value ("2 hours and 15 minutes", "7 feet, 2 inches")
_COMPOUND_LEAD_RE = re.compile(
    r"^[-+]?\d+(?:\.\d+)?\s*[a-zA-Z]{1,20}\.?(?:(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s+)[-+]?\d+(?:\.\d+)?\s*[a-zA-Z]{1,20}\.?){1,5}"
    r"(?![\w.\\^])"
)


def _compound_lead(rest: str) -> str | None:
    """The compound quantity ``rest`` starts with ("2 hours and 15 minutes, ..." -> ``2 hours and 15
    minutes``), or None: its first number alone is not the value ("7 feet 2 inches" is not 7)."""
    m = _COMPOUND_LEAD_RE.match(rest)
    if m is None:
        return None
    text = m.group(0).rstrip(".")
    return text if compound_quantity(text) is not None else None


def _states_value(rest: str) -> bool:
    """``rest`` (what follows a copula) starts with inline math, a number or a list of numbers."""
    return bool(_MATH_SEG_RE.match(rest) or _NUM_LIST_RE.match(rest) or _LEAD_NUM_RE.match(rest))


def hedged_sentence(s: str) -> bool:
    """``s`` is a sentence (a word of three letters outside math and LaTeX commands) that negates,
    bounds or hedges its value ("He needs 7 or more apples", "not 5 but 7"): :func:`answer_from_words`
    takes no value from it, and no number may be read out of it later either (math-verify would pick
    one)."""
    if len(s) > 300:
        return False
    plain = _LATEX_CMD_RE.sub(" ", _UNIT_TEXT_RE.sub(lambda m: " " + m.group(1) + " ", _MATH_SEG_RE.sub(" ", s)))
    return bool(_WORD3_RE.search(plain) and _NEGATION_RE.search(plain))


#: words of three letters or more that are mathematics or connectives, not prose
_MATH_WORDS = frozenset(
    "and or sin cos tan cot sec csc log exp sqrt mod gcd lcm max min arcsin arccos arctan sinh cosh tanh "
    "det lim inf sup frac infty".split()
)


def prose_sentence(s: str) -> bool:
    """``s`` is prose: at least three words of three letters or more (connectives and function names
    aside) outside math and LaTeX commands — a final answer wrapped in words that
    :func:`answer_from_words` could not reduce to one value ("The trip takes 2 hours and 15 minutes",
    "We need 4 buses for 6 classes"). math-verify reads such text as products of letters and sets of
    numbers ("... and 15 minutes" parses as ``{15, ...}`` and equals ``15``), so only the same text
    can be right."""
    s = s[:2000]
    plain = _LATEX_CMD_RE.sub(" ", _MATH_SEG_RE.sub(" ", s))
    n = 0
    for m in _WORD3_RE.finditer(plain):
        if m.group().lower() not in _MATH_WORDS:
            n += 1
            if n >= 3:
                return True
    return False


def answer_from_words(s: str) -> str:
    """The value of a final answer wrapped in words ("There are 12 ways." -> ``12``; "The smallest $k$
    is 17." -> ``17``; "the answer is $x = 3$, since ..." -> ``x = 3``); ``s`` itself when it is not a
    sentence (no word of three letters outside math and LaTeX commands) or no single value stands out.
    Bounded: only the first 300 characters are read."""
    s = s.strip()
    if len(s) > 300:
        return s
    plain = _LATEX_CMD_RE.sub(" ", _MATH_SEG_RE.sub(" ", s))
    if not _WORD3_RE.search(plain) or _NEGATION_RE.search(plain):
        return s  # not a sentence, or "not 5 but 7": no single value to take
    body = s
    for m in re.finditer(r"[.!?]\s", s):  # only the first sentence: "... is $8$. I hope it is correct."
        if s.count("$", 0, m.start()) % 2 == 0:
            body = s[: m.start()]
            break
    body = body.rstrip(" .!")
    several_eq = body.count("=") > 1  # "x = 5 and y = 3": no single value after an "="
    cops = [
        m for m in _COPULA_RE.finditer(body)
        # a copula inside inline math ("$k$ is" is fine, "$x = 3$" is not a sentence copula)
        if body.count("$", 0, m.start()) % 2 == 0 and not (several_eq and "=" in m.group())
    ]
    # the last copula that states a value ("the answer is 3 and it is odd" -> 3), else the last one
    valued = [m for m in cops if _states_value(body[m.end():].lstrip())]
    cop = valued[-1] if valued else None
    if cop is not None:
        rest = body[cop.end() :].strip()
        seg = _MATH_SEG_RE.match(rest)
        if seg is not None:
            return (seg.group(1) or seg.group(2)).strip()
        if rest.startswith("\\boxed") or rest.startswith("\\fbox"):
            return rest
        compound = _compound_lead(rest)
        if compound is not None:  # "the total time is 2 hours and 15 minutes" -> the whole quantity
            return compound
        several = _NUM_LIST_RE.match(rest)
        if several is not None:  # "the roots are 3 and 5" -> "3, 5"
            return ", ".join(_NUM_LIST_SPLIT_RE.split(several.group(0).strip()))
        num = _LEAD_NUM_RE.match(rest)
        if num is not None:
            return num.group(0).strip()
    if cops:
        return s  # a copula that states no value ("the number of ways is twelve"): keep the text
    segs = list(_MATH_SEG_RE.finditer(body))
    outside = _MATH_SEG_RE.sub(" ", body)
    nums = list(_NUM_TOKEN_RE.finditer(outside))
    if len(segs) == 1 and not nums:
        return (segs[0].group(1) or segs[0].group(2)).strip()
    if len(nums) == 1 and not segs:
        m = _LEAD_NUM_RE.match(outside[nums[0].start() :])
        return m.group(0).strip() if m is not None else nums[0].group(0)
    return s


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
    rest = rest.strip()
    seg = _MATH_SEG_RE.match(rest)
    if seg is not None:  # "the answer is $x$, I hope it is correct" -> the leading math
        rest = (seg.group(1) or seg.group(2)).strip()
    else:
        several = _NUM_LIST_RE.match(rest)
        num = _LEAD_NUM_RE.match(rest)
        compound = _compound_lead(rest)
        if compound is not None:  # "the answer is 7 feet 2 inches" is not 7
            rest = compound
        elif several is not None:  # "the answer is 5 or 6": both (a hedge is wrong against one value)
            rest = ", ".join(_NUM_LIST_SPLIT_RE.split(several.group(0).strip()))
        elif num is not None and not _NEGATION_RE.search(rest):  # "the answer is 17, since $k$ is odd" -> 17
            rest = num.group(0).strip()
        else:
            rest = answer_from_words(rest)
    if not rest or len(rest) > 120:
        return None
    return rest


_CONCLUDE_RE = re.compile(
    r"(?i)^(?:so|thus|therefore|hence|finally|consequently|in conclusion|in total|overall|altogether)\b"
)


def _concluding_sentence(text: str) -> str | None:
    """The value stated by a closing sentence such as "So the largest value is -7." — the last sentence
    of the response, complete (ends with a period), starting with a conclusion word and stating a value
    with a copula. Reads only the last :data:`SENTENCE_TAIL_CHARS` characters."""
    tail = text[-SENTENCE_TAIL_CHARS:].rstrip()
    if not tail.endswith((".", "!")) or tail.endswith(".."):
        return None
    body = tail[:-1]
    start = 0
    for pat in (". ", ".\n", "\n", "! ", "? "):
        k = body.rfind(pat)
        if k != -1:
            start = max(start, k + len(pat))
    if start == 0 and len(text) > len(tail):
        return None  # the sentence starts before the tail: too long to be a closing statement
    sentence = body[start:].strip()
    if not _CONCLUDE_RE.match(sentence) or len(sentence) > 200 or _NEGATION_RE.search(sentence):
        return None
    cop = None
    for m in _COPULA_RE.finditer(sentence):
        if sentence.count("$", 0, m.start()) % 2 == 0:
            cop = m
    if cop is None:
        return None
    value = answer_from_words(sentence + ".")
    if not value or value in (sentence, sentence + "."):
        return None
    rest = sentence[cop.end() :].strip()
    if not _states_value(rest):
        return None  # "So the answer is correct." states no value
    return value


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
    state: dict = {}
    first_box = next(_boxes_from_end(text, state), None)
    boxed = None if first_box is None else (first_box[0], first_box[2])
    line = _answer_line(text)
    if line is not None and (not _balanced(line[0]) or _BOX_RE.search(line[0])):
        line = None
    cut = state.get("unclosed_last", -1)
    if cut != -1 and (line is None or line[1] < cut):
        # the final answer was being written when the response ended ("... \\boxed{4"): an earlier
        # box is not the answer, and neither is the sentence before it
        return None, "none"
    if boxed is not None and (line is None or boxed[1] >= line[1]):
        return boxed[0], "boxed"
    if line is not None:
        return line[0], "answer_line"
    sent = _final_sentence(text)
    if sent is not None and _balanced(sent) and not _BOX_RE.search(sent):
        return sent, "sentence"
    sent = _concluding_sentence(text)
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
_SPACING_RE = re.compile(r"(?<!\\)\\[,;:! ]|\\quad|\\qquad|~")  # not the "\\" of a matrix row
_LEFT_RIGHT_RE = re.compile(r"\\(?:left|right)(?=[()\[\]|.]|\\[{}])")
_DFRAC_RE = re.compile(r"\\[dt]frac")
_THIN_SEP_RE = re.compile(r"(?<=\d)(?:,\s*\\!|\{,\}|\\[,!:; ])(?=\d{3}(?!\d))")  # 12,\!345  12{,}345  12\,345
_MATRIX_RE = re.compile(r"\\begin\{([pbBvV]?matrix)\}(.{0,2000}?)\\end\{\1\}", re.S)
_EULER_RE = re.compile(r"\\(?:mathrm|text|operatorname|rm|mathit)\s*\{\s*e\s*\}|\{\\rm\s+e\}")
_RELATION_RE = re.compile(r"\\(?:geqslant|leqslant|geq|leq|neq)(?![a-zA-Z])|>=|<=|!=")
_RELATION_OF = {"\\geqslant": "\\ge ", "\\geq": "\\ge ", ">=": "\\ge ", "\\leqslant": "\\le ", "\\leq": "\\le ",
                "<=": "\\le ", "\\neq": "\\ne ", "!=": "\\ne "}


def _vector_as_tuple(m: "re.Match[str]") -> str:
    """A one-row or one-column ``pmatrix``/``bmatrix`` is a vector: written as the tuple ``(a, b, c)``
    (how the ground truths of vector answers are usually written). Larger matrices are kept."""
    if m.group(1) not in ("pmatrix", "bmatrix", "Bmatrix", "matrix"):
        return m.group(0)
    rows = [r.strip() for r in re.split(r"\\\\(?:\[[^\]]*\])?", m.group(2))]
    rows = [r for r in rows if r]
    cells = [[c.strip() for c in r.split("&")] for r in rows]
    if not cells or any(not c for row in cells for c in row):
        return m.group(0)
    if len(cells) == 1 and len(cells[0]) >= 2:
        return "(" + ", ".join(cells[0]) + ")"
    if len(cells) >= 2 and all(len(r) == 1 for r in cells):
        return "(" + ", ".join(r[0] for r in cells) + ")"
    return m.group(0)


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
    if "matrix" in s:
        s = _MATRIX_RE.sub(_vector_as_tuple, s)
    if "e" in s and "\\" in s:
        s = _EULER_RE.sub("e", s)  # \mathrm{e} is Euler's number e
    if "=" in s or "eq" in s:
        s = _RELATION_RE.sub(lambda m: _RELATION_OF[m.group()], s)
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


def _compare_scalar(gold: str, pred: str) -> bool | None:
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


# ----------------------------------------------------------------------------------------------
# compound quantities, inequalities as intervals, answers given as several boxes
# ----------------------------------------------------------------------------------------------

#: a number, then letters, then another number: the least a compound quantity has
_COMPOUND_HINT_RE = re.compile(r"\d[^a-zA-Z\d]*[a-zA-Z][^\d]*\d")
_UNIT_TEXT_RE = re.compile(r"\\(?:text|mbox|mathrm|textrm)\s*\{([^{}]*)\}")
_COMPOUND_PART_RE = re.compile(r"\s*(?:,|\band\b|\+)?\s*([-+]?\d+(?:\.\d+)?)\s*([a-zA-Z]+)\.?")


def compound_quantity(s: str) -> list[tuple[Fraction, str]] | None:
    """``[(7, "feet"), (2, "inche")]`` for a quantity written as two or more number-unit pairs
    (``7 feet 2 inches``, ``2 \\text{ hours } 15 \\text{ minutes}``, ``3 h and 20 min``); None otherwise.
    Units are lower-cased with a plural ``s`` dropped so both sides normalise alike."""
    if not s or len(s) > 200 or _COMPOUND_HINT_RE.search(s) is None:
        return None
    t = _UNIT_TEXT_RE.sub(lambda m: " " + m.group(1) + " ", s).replace("~", " ")
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


_REL_SPLIT_RE = re.compile(r"(<|>|\\le(?![a-zA-Z])|\\ge(?![a-zA-Z])|\\lt(?![a-zA-Z])|\\gt(?![a-zA-Z]))")
_VAR_RE = re.compile(r"^[a-zA-Z](?:_\{?\w{1,3}\}?)?$")


def looks_like_interval(s: str) -> bool:
    """``(a, b]``, ``[a, \\infty)``, unions of those."""
    s = s.strip()
    return len(s) >= 5 and s[0] in "([" and s[-1] in ")]" and ("," in s) and "<" not in s and ">" not in s


def inequality_as_interval(s: str) -> str | None:
    """``-1 < x \\le 4`` -> ``(-1, 4]``, ``x \\ge 5`` -> ``[5, \\infty)``, ``x < 2`` -> ``(-\\infty, 2)``
    (one variable, one or two bounds); None for anything else."""
    if len(s) > 200:
        return None
    s = re.sub(r"^[a-zA-Z]\s*\\in\s*", "", s.strip())
    parts = [p.strip() for p in _REL_SPLIT_RE.split(s)]
    low = {"<": "(", "\\lt": "(", "\\le": "["}
    high = {"<": ")", "\\lt": ")", "\\le": "]"}
    flip = {">": "<", "\\gt": "<", "\\ge": "\\le"}
    if len(parts) == 3:
        a, op, b = parts
        if _VAR_RE.match(a) and b and not _VAR_RE.match(b):
            if op in low:
                return f"(-\\infty, {b}{high[op]}"
            return f"{low[flip[op]]}{b}, \\infty)"
        if _VAR_RE.match(b) and a and not _VAR_RE.match(a):
            if op in low:
                return f"{low[op]}{a}, \\infty)"
            return f"(-\\infty, {a}{high[flip[op]]}"
        return None
    if len(parts) == 5:
        a, op1, v, op2, b = parts
        if not _VAR_RE.match(v) or not a or not b:
            return None
        if op1 in low and op2 in low:
            return f"{low[op1]}{a}, {b}{high[op2]}"
        if op1 in flip and op2 in flip:  # b < x < a written downwards
            return f"{low[flip[op2]]}{b}, {a}{high[flip[op1]]}"
    return None


def strip_assignment(s: str) -> str:
    """``x = 2`` -> ``2`` (a single variable, optionally subscripted, then ``=``)."""
    return _ASSIGN_RE.sub("", s.strip(), count=1)
