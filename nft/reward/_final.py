"""Reading the final answer of a response, the way a careful grader does.

1. ``<think>...</think>``: the answer is read after the last ``</think>`` (or, when nothing there states
   one, at the end of the reasoning); a ``<think>`` that never closes was cut off: no answer.
2. The last complete ``\\boxed{...}`` and the last answer line (``Answer: ...``, ``**Final Answer:**
   ...``, a ``### Final Answer`` heading and the line under it): whichever ends later wins. When the
   last box never closes ("... \\boxed{4"), the response was cut while writing its answer.
3. Otherwise a final-answer sentence ("the final answer is ...") in the last
   :data:`SENTENCE_TAIL_CHARS` characters, otherwise a closing sentence ("So the largest value is
   -7.", "In total, she has fifteen marbles left.").
4. An answer followed by a retraction ("wait, that's wrong", "I made a mistake") is withdrawn: the
   value stated after the retraction counts, or none.

Words are read with the one table :data:`PROSE`. Everything here is linear in the input size and
never raises on any ``str``.
"""

from __future__ import annotations

import re

from nft.reward._boxes import BOX_RE, balanced, boxes_from_end, final_box_group, last_boxed
from nft.reward._normal import REALS, UNIT_TEXT_RE, WORDS, clean, compound_quantity, number_words, word_of

#: A final-answer sentence counts only if it starts within this many characters of the end.
SENTENCE_TAIL_CHARS = 400

#: Every word and phrase the reader knows, by what it reads.
PROSE = {
    # the label of an answer line: "Answer: 7", "**Final Answer:** 7", "### Final answer", "_Answer_: 7"
    "answer_line": r"(?im)(?:^|(?<=[.!?] ))[ \t>#*_]*(?:the[ \t]+)?(?:final[ \t]+)?answer[ \t*_]*[:：][ \t*_]*",
    # a heading that announces the answer on the next line: "## Final Answer", "**Final answer**"
    "answer_heading": r"(?im)^[ \t>#*_]*(?:the[ \t]+)?(?:final[ \t]+)?answer[ \t*_]*\n[ \t\n]*([^\n]{1,300})",
    # a final-answer sentence: "the answer is 7", "Thus, the final answer is: $8$"
    "answer_is": r"(?i)\b(?:the[ \t]+)?(?:final[ \t]+)?answer[ \t]+(?:is|would be|should be)[ \t]*[:：]?[ \t]*",
    # words that open a closing sentence: "So the largest value is -7.", "In total, she has 15 marbles.",
    # "The final vector is ..."
    "opener": r"(?i)^(?:so|thus|therefore|hence|finally|consequently|in conclusion|in total|overall|altogether|"
              r"in all|all in all|this gives|that gives|we conclude that|this means|(?:the\s+)?final)\b",
    # a closing clause inside a sentence: "..., so $x = -6$ or $x = -10$", "...; hence the answer is 4"
    "closing_clause": r"(?i)[,;:]\s*(?:and\s+)?(?:so|thus|hence|therefore)\b[,\s]*",
    # copulas that bind a value: "the count is 12", "the roots are 3 and 5", "x equals 4", "it should be 7"
    "copula": r"(?i)(?:^|\s)(?:is|are|was|were|equals|be|becomes|comes to|gives?|yields?|satisf(?:y|ies))\s+|\s=\s",
    # words that negate, bound or hedge a value ("not 5", "at least 5", "about 5", "5 or more"): no value
    # is taken. "more", "less", "fewer", "least", "most" alone are ordinary words ("7 more apples" -> 7)
    "hedge": r"(?i)\b(?:not|no|never|neither|nor|cannot|isn't|aren't|can't|won't|instead|but|than|"
             r"at\s+(?:the\s+)?(?:least|most|max|maximum|minimum)|"
             r"or\s+(?:more|less|fewer|greater|larger|bigger|smaller|higher|lower|above|below|so|up)|"
             r"more\s+or\s+less|and\s+(?:more|up|above|over)|upwards|"
             r"about|approximately|around|roughly|nearly|almost|over|under|between|maybe|perhaps|possibly|"
             r"either|probably|likely|guess|estimate)\b",
    # a sentence that plans more work or supposes instead of concluding: "So we need to check 3 more cases."
    "plan": r"(?i)\b(?:let's|let us|we'll|will|next|now|try|check|consider|compute|verify|examine|suppose|assume|if|"
            r"continue)\b",
    # a retraction of an answer already given: "wait, that's wrong", "I made a mistake", "let me redo"
    "retract": r"(?i)\b(?:mistake|wrong|incorrect|not (?:correct|right)|oops|correction|miscalculated|"
               r"let me (?:redo|recompute|recalculate|reconsider|start over))\b",
    # a second thought after an answer: it counts only if a new value is stated after it
    "reconsider": r"(?i)\b(?:wait|hmm|actually|on second thought|re-?read(?:ing)?)\b",
    # what makes a retraction word a confirmation: "no mistake", "nothing wrong", "isn't wrong"
    "not_retract": r"(?i)(?:\bno|\bnot|n't|\bnothing|\bany|\bwithout)\s+(?:\w+\s+)?$",
    # a dollar sign used as money, not math: "$37.50 in total", "costs $5."
    "currency": r"(?<![\\$\w])\$(?=\d[\d,]*(?:\.\d+)?(?![\d,.]*\$)(?:\s+[A-Za-z]|[.,;!?]?(?:\s|$)))",
    # sentence ends: a period, "!" or "?" then space, or a newline
    "sentence_end": r"[.!?](?:\s|$)|\n",
}
_RE = {k: re.compile(v) for k, v in PROSE.items()}

_MATH_SEG_RE = re.compile(r"\$\$?([^$]{1,300})\$\$?|\\\(([^()]{1,300}?)\\\)")
_LATEX_CMD_RE = re.compile(r"\\[a-zA-Z]+\s*(?:\{[^{}]{0,100}\})?")
_WORD3_RE = re.compile(r"[A-Za-z]{3,}")
_SIGNED_NUM = r"[-+\u2212]?\\?\$?(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+)?"
_LEAD_NUM_RE = re.compile(
    r"^(" + _SIGNED_NUM + r")(?:\s*(\\?%|percent\b|(?:hundred|thousand|million|billion|trillion)\b))?"
    r"(?!\s*[\\^_*/+\-=({\[\u00d7\u00b7!]|[\w.]\w|\s*,\s*[-+\u2212]?\d)"  # "2\sqrt3", "3 \times 10^5", "1,2,3"
)
_NUM_TOKEN_RE = re.compile(r"(?<![\w.])" + _SIGNED_NUM + r"(?![\w])")
#: "3 and 5", "1, 2 or 4": several values stated together ("1,234" is one number)
_NUM_LIST_RE = re.compile(r"^(" + _SIGNED_NUM + r")((?:\s*(?:,\s+(?:and\s+|or\s+)?|\s(?:and|or)\s)\s*" + _SIGNED_NUM + r")+)(?![\w.\\^])")
_NUM_LIST_SPLIT_RE = re.compile(r"\s*(?:,\s+(?:and\s+|or\s+)?|\s(?:and|or)\s)\s*")
#: a compound quantity at the start of a value ("2 hours and 15 minutes", "7 feet, 2 inches")
_COMPOUND_LEAD_RE = re.compile(
    r"^[-+]?\d+(?:\.\d+)?\s*[a-zA-Z]{1,20}\.?(?:(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s+)[-+]?\d+(?:\.\d+)?\s*[a-zA-Z]{1,20}\.?){1,5}"
    r"(?![\w.\\^])"
)
#: words of three letters or more that are mathematics or connectives, not prose
_MATH_WORDS = frozenset("and or sin cos tan cot sec csc log exp sqrt mod gcd lcm max min arcsin arccos arctan "
                        "sinh cosh tanh det lim inf sup frac infty".split())
_WORDS_ALT = "|".join(WORDS.values())
_WORD_LEAD_RE = re.compile(rf"(?i)^((?:\\text\{{\s*)?(?:{_WORDS_ALT})\}}?)(?=\s*(?:[.,;!]|$))")
_REALS_LEAD_RE = re.compile(rf"(?i)^(?:{REALS})(?=\s*(?:[.,;!]|$))")
#: what may follow an answer given right after "So": "So $x = 7$, since ...", "So $x = 7$."
_AFTER_LEAD_RE = re.compile(r"(?i)\s*(?:$|[,;]|(?:since|because|as|where|which|for)\b)")
_MARKDOWN_RE = re.compile(r"^[*_\s]+|[*_\s]+$")


def _plain(s: str, units: bool = True) -> str:
    """``s`` without its inline math and LaTeX commands (with ``units``, ``\\text{ cm}`` keeps its words)."""
    s = _MATH_SEG_RE.sub(" ", s)
    return _LATEX_CMD_RE.sub(" ", UNIT_TEXT_RE.sub(lambda m: " " + m.group(1) + " ", s) if units else s)


def hedged_sentence(s: str) -> bool:
    """``s`` is a sentence that negates, bounds or hedges its value ("He needs 7 or more apples",
    "not 5 but 7"): no value is taken from it, and none may be read out of it later either."""
    if len(s) > 300:
        return False
    plain = _plain(s)
    return bool(_WORD3_RE.search(plain) and _RE["hedge"].search(plain))


def prose_sentence(s: str) -> bool:
    """``s`` is prose: three or more words of three letters (connectives and function names aside)
    outside math — an answer in words that no single value could be read out of. math-verify reads
    such text as products of letters and sets of numbers, so only the same text can be right."""
    n = 0
    for m in _WORD3_RE.finditer(_plain(s[:2000], units=False)):
        if m.group().lower() not in _MATH_WORDS:
            n += 1
            if n >= 3:
                return True
    return False


def _compound_lead(rest: str) -> str | None:
    m = _COMPOUND_LEAD_RE.match(rest)
    if m is None:
        return None
    text = m.group(0).rstrip(".")
    return text if compound_quantity(text) is not None else None


#: what joins the inline-math pieces of one answer: "$x = 1$ or $x = 6$", "$a = 2$, $b = -7$" (the
#: connectives math-verify's LaTeX extraction joins: ",", "and", "or")
_SEG_GAP_RE = re.compile(r"\s*(?:,\s*(?:and|or)?|and|or)\s*")


def _seg_run(s: str, m: "re.Match[str]") -> tuple[str, int]:
    """The contents of the inline math ``m`` and of those right after it joined by connectives (kept:
    ``x < 2`` or ``x > 3`` is not ``x < 2, x > 3``), and where the run ends."""
    out, end = (m.group(1) or m.group(2)).strip(), m.end()
    for _ in range(16):
        gap = _SEG_GAP_RE.match(s, end)
        nxt = _MATH_SEG_RE.match(s, gap.end()) if gap is not None and gap.end() > end else None
        if nxt is None:
            break
        word = re.search(r"and|or", gap.group())
        out += (f" \\text{{ {word.group()} }} " if word else ", ") + (nxt.group(1) or nxt.group(2)).strip()
        end = nxt.end()
    return out, end


def _lead_value(rest: str, words: bool = True) -> str | None:
    """The value ``rest`` (what follows a copula) starts with: inline math, a box, a word answer, a
    compound quantity, a list of numbers, a number; None if it starts with none of these."""
    seg = _MATH_SEG_RE.match(rest)
    if seg is not None:
        return _seg_run(rest, seg)[0]
    if rest.startswith(("\\boxed", "\\fbox")):
        return rest
    w = _WORD_LEAD_RE.match(rest) if words else None
    if w is not None:
        return w.group(1)
    if _REALS_LEAD_RE.match(rest):
        return "(-\\infty, \\infty)"  # "all real numbers"
    compound = _compound_lead(rest)
    if compound is not None:  # "2 hours and 15 minutes" is the whole quantity, never 2
        return compound
    several = _NUM_LIST_RE.match(rest)
    if several is not None:  # "the roots are 3 and 5" -> "3, 5"
        return ", ".join(_NUM_LIST_SPLIT_RE.split(several.group(0).strip()))
    num = _LEAD_NUM_RE.match(rest)
    return num.group(0).strip() if num is not None else None


_ABBREV_RE = re.compile(r"(?i)\b(?:i\.e|e\.g|cf|vs|etc|approx|resp)\.")


def _masked(s: str) -> str:
    """``s`` with the periods of abbreviations ("i.e.", "e.g.") masked, same length: for finding where
    sentences end."""
    return _ABBREV_RE.sub(lambda m: m.group().replace(".", "_"), s)


def _first_sentence(s: str) -> str:
    for m in _RE["sentence_end"].finditer(_masked(s)):
        if s.count("$", 0, m.start()) % 2 == 0:
            return s[: m.start()]
    return s


def value_of(s: str, *, single: bool = True) -> str | None:
    """The value a sentence states ("There are 12 ways." -> ``12``; "The smallest $k$ is 17." -> ``17``;
    "the function is even" -> ``even``; "she has fifteen marbles" -> ``15``; "he pays $37.50" -> ``37.50``),
    or None: not a sentence, a hedge, or no single value. The value after the last copula that states
    one counts; without a copula, the sentence's only number or only inline math (``single``)."""
    s = s.strip()
    if len(s) > 300:
        return None
    s = _RE["currency"].sub("", s)
    if not _WORD3_RE.search(_plain(s)) and not _RE["opener"].match(s):
        return None
    body = _first_sentence(s).rstrip(" .!")
    lead = _RE["opener"].match(body)
    seg = _MATH_SEG_RE.match(body, lead.end() + len(body[lead.end():]) - len(body[lead.end():].lstrip(" ,"))) if lead else None
    if seg is not None:  # "So $x = 7$, since ...", "Thus $x = 3$ and $y = -1$." (not "So $f$ is odd")
        run, end = _seg_run(body, seg)
        if _AFTER_LEAD_RE.match(body, end):
            return run
    clauses = [m for m in _RE["closing_clause"].finditer(body) if body.count("$", 0, m.start()) % 2 == 0]
    if clauses:  # "..., so $x = -6$ or $x = -10$": the clause that concludes
        v = value_of("So " + body[clauses[-1].end():])
        if v is not None:
            return v
    cops = [m for m in _RE["copula"].finditer(body) if body.count("$", 0, m.start()) % 2 == 0]
    # "the function is even", "there are no real solutions", "it is neither even nor odd"
    word = body[cops[-1].end():].strip() if cops and word_of(body[cops[-1].end():]) is not None else None
    clarified = re.match(r"(.{1,80}?),\s*(?:and\s+)?not\s", body[cops[-1].end():] + " ") if cops else None
    if word is None and clarified is not None and _RE["hedge"].search(_plain(clarified.group(1))) is None:
        v = _lead_value(clarified.group(1).strip())  # "the function is odd, not even", "it is 5, not 6"
        if v is not None:
            return v
    if word is None and _RE["hedge"].search(_plain(body)):
        return None  # "not 5 but 7", "at least 5": no single value
    if not re.search(r"\d|\$", body):
        body = number_words(body)  # "she has fifteen marbles" (not "32,348 after five years", "the two $x$")
    cops = [m for m in _RE["copula"].finditer(body) if body.count("$", 0, m.start()) % 2 == 0]
    if body.count("=") > 1:  # "x = 5 and y = 3": no single value after an "="
        cops = [m for m in cops if "=" not in m.group()]
    for m in reversed(cops):  # "the answer is 3 and it is odd" -> 3; "is worth 32,348", "is equal to 5"
        rest = body[m.end():].lstrip()
        skip = re.match(r"(?:[A-Za-z]+\s+){1,2}", rest)
        v = _lead_value(rest, words=False) or (_lead_value(rest[skip.end():], words=False) if skip else None)
        if v is not None:
            return v
    if word is None and cops:
        last = re.fullmatch(r"(?:[A-Za-z]+\s+){0,2}([A-Za-z]+)", body[cops[-1].end():].strip())
        if last is not None and not re.search(r"(?i)\b(?:and|or)\b", last.group()):
            return last.group(1)  # "So she is facing East." -> East: a word compared as text
    if word is not None or cops or not single:
        return word  # None for a copula that states no value
    segs = list(_MATH_SEG_RE.finditer(body))
    nums = list(_NUM_TOKEN_RE.finditer(_MATH_SEG_RE.sub(" ", body)))
    if segs and not nums:
        run, end = _seg_run(body, segs[0])
        if len(segs) == 1 or end == segs[-1].end():  # "So $a = 2$ and $b = -7$." -> "a = 2, b = -7"
            return run
    if len(nums) == 1 and not segs:
        rest = _MATH_SEG_RE.sub(" ", body)[nums[0].start():]
        if len(rest.split()) > 4:
            return None  # "So we get 12 and continue with ...": the number is not what the sentence ends on
        return _compound_lead(rest) or _lead_value(rest) or nums[0].group(0)
    return None


def answer_from_words(s: str) -> str:
    """:func:`value_of` an answer line's content, or the content itself when it states no single value."""
    v = value_of(s)
    return s.strip() if v is None else v


def _answer_line(text: str) -> tuple[str, int] | None:
    """The content of the last answer line (or heading and the line under it) and where it ends. Read
    from the end: each "answer" of the text is tried once, from just before it to the end of its line."""
    low = text.lower()
    k = len(text)
    while (k := low.rfind("answer", 0, k)) != -1:
        start = max(text.rfind("\n", 0, k) + 1, k - 40)
        end = text.find("\n", k)
        end = len(text) if end == -1 else end
        m = _RE["answer_line"].search(text, start, min(end, k + 40))  # the label; its line is the content
        content, stop = (text[m.end() : end], end) if m is not None else ("", end)
        if not content.strip(" \t*_$."):
            h = _RE["answer_heading"].match(text, start, end + 400)
            content, stop = (h.group(1), h.end(1)) if h is not None else ("", end)
        if content.strip(" \t*_$."):
            content = _MARKDOWN_RE.sub("", content)
            boxed = last_boxed(content)
            return (boxed[0] if boxed is not None else answer_from_words(content)), stop
    return None


def _answer_sentence(text: str) -> tuple[str, int] | None:
    """The value of the last "the answer is ..." sentence starting in the tail, and where it ends."""
    last = None
    for m in _RE["answer_is"].finditer(text, max(0, len(text) - SENTENCE_TAIL_CHARS)):
        last = m
    if last is None:
        return None
    rest = text[last.end():]
    stop = min([k for k in (rest.find(". "), rest.find(".\n"), rest.find("\n")) if k != -1] + [len(rest)])
    rest = _RE["currency"].sub("", _MARKDOWN_RE.sub("", rest[:stop]).rstrip(".").strip())
    v = None
    if _MATH_SEG_RE.match(rest) or _compound_lead(rest) or _NUM_LIST_RE.match(rest) or not _RE["hedge"].search(rest):
        v = _lead_value(rest)  # "the answer is 17, since $k$ is odd" -> 17; not from "is not 5 but 7"
    v = v or answer_from_words(rest)
    if not v or len(v) > 120:
        return None
    return v, last.end() + stop


def _closing_sentence(text: str, opener: bool = True) -> str | None:
    """The value of the last sentence of ``text`` when it is complete (ends with a period) and, with
    ``opener``, starts with a conclusion word ("So ...", "In total, ..."). Reads only the tail."""
    tail = text[-SENTENCE_TAIL_CHARS:].rstrip()
    if not tail.endswith((".", "!")) or tail.endswith(".."):
        return None
    body = tail[:-1]
    masked = _masked(body)
    starts = {p: masked.rfind(p) + len(p) for p in (". ", ".\n", "\n", "! ", "? ") if masked.rfind(p) != -1}
    start = max(starts.values(), default=0)
    if start == 0 and len(text) > len(tail):
        return None  # the sentence starts before the tail: too long to be a closing statement
    sentence = body[start:].strip()
    copula = any(sentence.count("$", 0, m.start()) % 2 == 0 for m in _RE["copula"].finditer(sentence))
    # a closing sentence opens with a conclusion word, or is a line of its own stating a value with a
    # copula ("\n\nThe solutions are $x = 1$ or $x = 6$.")
    assigns = not re.match(r"(?i)let\b", sentence) and any("=" in m.group() for m in _MATH_SEG_RE.finditer(sentence))
    own_line = (copula or assigns or _RE["closing_clause"].search(sentence)) and start in (
        starts.get("\n"), starts.get(".\n"), 0)
    if len(sentence) > 200 or (opener and not _RE["opener"].match(sentence) and not own_line):
        return None
    return value_of(sentence + ".", single=not copula and not _RE["plan"].search(_plain(sentence)))


def _retraction(after: str, name: str = "retract") -> int | None:
    """Where ``after`` (the text after an answer) retracts it (:data:`PROSE` ``name``), or None."""
    for m in _RE[name].finditer(after):
        if not _RE["not_retract"].search(after[max(0, m.start() - 30) : m.start()]):
            return m.end()
    return None


def _stated_after(after: str) -> str | None:
    v = _answer_sentence(after)
    return v[0] if v is not None else _closing_sentence(after, opener=False)


def _read(text: str) -> tuple[str | None, str]:
    state: dict = {}
    box = next(boxes_from_end(text, state), None)
    line = _answer_line(text)
    if line is not None and (not balanced(line[0]) or BOX_RE.search(line[0])):
        line = None  # an answer line cut off inside its value
    cut = state.get("unclosed_last", -1)
    if cut != -1 and (line is None or line[1] < cut):
        return None, "none"  # the final answer was being written when the response ended
    if box is not None and (line is None or box[2] >= line[1]):
        found = (box[0], box[2], "boxed")
    elif line is not None:
        found = (line[0], line[1], "answer_line")
    else:
        sent = _answer_sentence(text)
        found = (sent[0], sent[1], "sentence") if sent is not None else None
    if found is not None:
        k = _retraction(text[found[1]:])
        if k is not None:  # withdrawn: only a value stated after the retraction counts
            v = _stated_after(text[found[1] + k :])
            return (v, "sentence") if v else (None, "none")
        k = _retraction(text[found[1]:], "reconsider")
        v = _stated_after(text[found[1] + k :]) if k is not None else None
        return (v, "sentence") if v else (found[0], found[2])
    v = _closing_sentence(text)
    return (v, "sentence") if v else (None, "none")


def extract_answer(text: str) -> tuple[str | None, str]:
    """``(answer, source)``; source is ``"boxed"``, ``"answer_line"``, ``"sentence"`` or ``"none"``."""
    k = text.rfind("</think>")
    if k != -1:
        ans = _read(text[k + len("</think>") :])
        if ans[0] is not None:
            return ans
        text = text[:k]
    elif "<think>" in text:
        return None, "none"  # cut off while thinking
    ans, src = _read(text)
    if ans is not None and (not balanced(ans) or (src == "sentence" and BOX_RE.search(ans))):
        return None, "none"
    return ans, src


def final_answer(text: str) -> str:
    """The cleaned final answer of ``text`` ("" if none). Several boxes that together form the final
    answer (``\\boxed{(1, 4)}`` and ``\\boxed{(4, 1)}``; ``x = \\boxed{2}`` or ``x = \\boxed{-3}``) become
    one list ``(1, 4), (4, 1)``: against a single-valued ground truth such a hedge is wrong."""
    ans, src = extract_answer(text)
    pred = clean(ans) if ans is not None else ""
    if src == "boxed" and text.count("\\boxed") + text.count("\\fbox") >= 2:
        k = text.rfind("</think>")
        vals: list[str] = []
        for b in final_box_group(text[k + 8 :] if k != -1 and BOX_RE.search(text, k) else text):
            v = clean(b)
            if v and v not in vals:
                vals.append(v)
        if len(vals) >= 2:
            pred = ", ".join(vals)
    return pred
