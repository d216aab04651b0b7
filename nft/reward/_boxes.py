"""Braces and boxes: every complete ``\\boxed{...}`` / ``\\fbox{...}`` of a response, linear in its size.

Braces are matched right to left, each segment between two consecutive boxes once, so thousands of
unclosed ``\\boxed{`` cost no more than one pass and the usual case (the last box closes) reads only
the text after it. Nothing here raises on any ``str``.
"""

from __future__ import annotations

import re

BOX_RE = re.compile(r"\\(?:boxed|fbox)\b")
_BRACE_TOKEN_RE = re.compile(r"\\[{}]|[{}]")
#: at most this many boxes form one answer (a longer run is read as its last boxes)
MAX_GROUP_BOXES = 32
#: text allowed between the boxes of one answer written as several boxes ("\boxed{(1,4)} and
#: \boxed{(4,1)}", "$x = \boxed{2}$ or $x = \boxed{-3}$")
_BOX_GAP_RE = re.compile(r"^(?:[\s$,;.]|\\[()]|\\quad|\\qquad|\\text\{\s*(?:and|or)\s*\}|\band\b|\bor\b|[a-zA-Z]\s*=)*$")


def boxes_from_end(text: str, state: dict | None = None):
    """Complete boxes of ``text`` as ``(content, start, end)``, last first (a generator: callers stop
    early). ``state["unclosed_last"]`` is set to the start of the last box when that one never closes.
    The ``{`` at ``j`` closes at the nearest ``}`` to its right unmatched within ``text[j+1:]`` (what a
    left-to-right depth count finds). ``\\boxed 5`` yields the token up to whitespace or ``$``."""
    if "\\boxed" not in text and "\\fbox" not in text:
        return
    starts = list(BOX_RE.finditer(text))
    first = True
    n = len(text)
    closers: list[int] = []  # ends (just past) of '}' not yet matched, nearest last
    scanned_from = n  # text[scanned_from:] has been pushed through the stack
    for m in reversed(starts):
        j = m.end()
        while j < n and text[j] in " \t":
            j += 1
        if j < n and text[j] == "{":
            if j < scanned_from:
                for tok in reversed(list(_BRACE_TOKEN_RE.finditer(text, j + 1, scanned_from))):
                    if tok.group() == "}":
                        closers.append(tok.end())
                    elif tok.group() == "{" and closers:
                        closers.pop()
                scanned_from = j
            if closers:
                end = closers.pop()
                first = False
                yield text[j + 1 : end - 1], m.start(), end
            elif first and state is not None:
                state["unclosed_last"] = m.start()
            first = False
            continue  # an unbalanced (truncated) box is not an answer
        first = False
        k = j
        while k < n and text[k] not in " \t\n$":
            k += 1
        if k > j and j > m.end():
            yield text[j:k], m.start(), k


def all_boxed(text: str) -> list[tuple[str, int, int]]:
    """Every complete box of ``text`` as ``(content, start, end)``, in order."""
    return list(reversed(list(boxes_from_end(text))))


def last_boxed(text: str) -> tuple[str, int] | None:
    """Content of the last complete box and the index where it ends, or None."""
    for content, _start, end in boxes_from_end(text):
        return content, end
    return None


def final_box_group(text: str) -> list[str]:
    """Contents of the boxes that together form the final answer: the last box and those right before
    it separated only by connectives (``and``, ``or``, commas, ``$``, ``x =``). A box followed by a
    correction ("... wait, it is \\boxed{7}") is not part of the group."""
    boxes = boxes_from_end(text)
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


def balanced(s: str) -> bool:
    """Braces of ``s`` balance (escaped ``\\{`` ``\\}`` aside)."""
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
