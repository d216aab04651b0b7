"""Math answer verifier reward for NFT / verl 0.9.1: exact, bounded in time, never raises.

Contract (``reward.custom_reward_function.path=pkg://nft.reward``, ``name=compute_score``)::

    compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> dict
    compute_score_float(...) -> float          # same arguments, returns result["score"]
    score_batch(solutions, ground_truths, *, timeout=None, num_workers=None, progress=False) -> list[dict]

Every result dict has the same keys (verl stacks them into arrays across samples):

* ``score``: ``+1.0`` if the final answer equals the ground truth, else ``-1.0`` (NFT's convention;
  NFT derives the positive/negative label as ``score > 0``);
* ``acc``: ``1.0`` / ``0.0``;
* ``pred``: the extracted final answer, canonicalised for plain numbers (``"1/2"``, ``"42"``) so
  that verl's maj@k votes on values; ``""`` when there is none;
* ``has_answer`` (bool), ``timeout`` (bool), ``truncated`` (bool), ``method`` (str: ``fast``,
  ``math_verify``, ``string``, ``no_answer``, ``too_long``, ``timeout``, ``error``,
  ``invalid_ground_truth``, ``truncated``; ``authors_strict_box``, ``authors_minerva``,
  ``math_verify_plain`` with ``grader="authors"``),
  ``error`` (str, ``""`` when none).

Decision procedure for one response:

1. extract the final answer (:func:`nft.reward._final.final_answer`); none -> wrong;
2. both answers are read in a normal form (:mod:`nft.reward._normal`: numbers, words, choices, bases,
   intervals, tuples, assignments, lists) and compared exactly in the calling thread, without sympy
   and without a process round-trip (:func:`nft.reward._normal.decide`);
3. anything else goes to math-verify in a worker process with a hard deadline of ``timeout``
   seconds (default 5, env ``NFT_REWARD_TIMEOUT``, or ``reward_kwargs.timeout``); a worker that
   misses it is killed and the answer scores wrong with ``timeout=True``.

``ground_truth`` may be a string, a number, or a list of acceptable answers (any match counts).

A response with ``extra_info["truncated"]`` true (set by :class:`nft.reward.manager.NFTRewardManager`:
no EOS within ``max_response_length``) scores ``-1`` with ``method="truncated"`` unless
``truncated_is_negative=False``. ``grader="authors"`` / ``"math-verify"`` select the NFT authors'
training reward (:mod:`nft.reward.authors`) or plain math-verify instead of the procedure above.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from nft.reward._boxes import last_boxed
from nft.reward._final import final_answer, hedged_sentence, prose_sentence
from nft.reward._normal import as_number, choice_of, clean, compound_quantity, decide, string_key, word_of
from nft.reward._numbers import canonical_number, number_value
from nft.reward import authors
from nft.reward._pool import get_pool, shutdown_pool

__all__ = ["compute_score", "compute_score_float", "score_batch", "shutdown_pool", "DEFAULT_TIMEOUT", "GRADERS"]


def _env_float(name: str, default: float) -> float:
    try:
        v = float(os.environ.get(name, default))
        return v if v > 0 else default
    except ValueError:
        return default


#: Seconds of math-verify work allowed per answer.
DEFAULT_TIMEOUT = _env_float("NFT_REWARD_TIMEOUT", 5.0)
#: Worker processes used by compute_score (score_batch uses all cores unless told otherwise).
DEFAULT_WORKERS = int(_env_float("NFT_REWARD_WORKERS", float(min(4, os.cpu_count() or 1))))
#: An extracted answer longer than this (and 20x the ground truth) is scored wrong without parsing.
MAX_ANSWER_CHARS = 1000


def _result(
    score: bool, pred: str, *, has_answer: bool, method: str, timeout: bool = False, error: str = "",
    truncated: bool = False,
) -> dict:
    return {
        "score": 1.0 if score else -1.0,
        "acc": 1.0 if score else 0.0,
        "pred": pred,
        "has_answer": bool(has_answer),
        "timeout": bool(timeout),
        "truncated": bool(truncated),
        "method": method,
        "error": error,
    }


def _as_text(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, str):
        return x
    if isinstance(x, bytes | bytearray):
        return bytes(x).decode("utf-8", errors="replace")
    return str(x)


def _gold_list(ground_truth: Any) -> list[str]:
    if isinstance(ground_truth, str | bytes | bytearray) or ground_truth is None:
        items = [ground_truth]
    elif isinstance(ground_truth, dict) and "ground_truth" in ground_truth:
        return _gold_list(ground_truth["ground_truth"])
    else:
        try:
            items = list(ground_truth)  # list / tuple / numpy array of acceptable answers
        except TypeError:
            items = [ground_truth]
    return [_as_text(g) for g in items if _as_text(g).strip()]


@lru_cache(maxsize=65536)
def _clean_gold(g: str) -> str:
    boxed = last_boxed(g) if ("\\boxed" in g or "\\fbox" in g) else None
    return clean(boxed[0] if boxed is not None else g)


class _Pending:
    """A response the fast path could not decide: needs math-verify on ``pairs`` of (gold, pred)."""

    __slots__ = ("pred", "pred_out", "pairs", "mode", "error")

    def __init__(self, pred: str, pred_out: str, pairs: list[tuple[str, str]], mode: str = "nft"):
        self.pred = pred
        self.pred_out = pred_out
        self.pairs = pairs
        self.mode = mode
        self.error = ""


def _invalid_gold(pred: str, ground_truth: Any, truncated: bool) -> dict:
    return _result(
        False, pred, has_answer=bool(pred), method="invalid_ground_truth", truncated=truncated,
        error=f"ground_truth is empty or not a string/number/list: {ground_truth!r}"[:300],
    )


def _prepare(solution_str: Any, ground_truth: Any, truncated: bool = False) -> dict | _Pending:
    """Extraction and fast path; returns a final result or the work left for math-verify."""
    golds = [_clean_gold(g) for g in _gold_list(ground_truth)]
    golds = [g for g in golds if g]
    text = _as_text(solution_str)
    pred = final_answer(text)
    if not golds:
        return _invalid_gold(pred, ground_truth, truncated)
    num = number_value(pred) if pred else None
    pred_out = canonical_number(num) if num is not None else pred
    if truncated:
        return _result(False, pred_out, has_answer=bool(pred), method="truncated", truncated=True)
    if not pred:
        return _result(False, "", has_answer=False, method="no_answer")
    if (len(pred) <= MAX_ANSWER_CHARS and compound_quantity(pred) is None and word_of(pred) is None
            and choice_of(pred) is None and as_number(pred) == pred
            and (hedged_sentence(pred) or prose_sentence(pred))):
        # "He needs 7 or more apples", "not 5 but 7": no value is stated; "The trip takes 2 hours and 15
        # minutes": no single value could be read out of the words. None is guessed (math-verify would
        # pick a number out of the text): only the same text is right
        key = string_key(pred)
        return _result(any(string_key(g) == key for g in golds), pred_out, has_answer=True, method="string")
    undecided = []
    for g in golds:
        verdict, pair = decide(g, pred)  # the normal forms of nft.reward._normal; None: math-verify
        if verdict is True:
            return _result(True, pred_out, has_answer=True, method="fast")
        if verdict is None:
            undecided.append(pair)
    if not undecided:
        return _result(False, pred_out, has_answer=True, method="fast")
    if len(pred) > MAX_ANSWER_CHARS and len(pred) > 20 * max(len(g) for g, _ in undecided):
        return _result(False, pred_out[:200], has_answer=True, method="too_long")
    return _Pending(pred, pred_out, undecided)


def _finish(p: _Pending, timeout: float, num_workers: int) -> dict:
    pool = get_pool(num_workers)
    last = None
    for g, pred in p.pairs:
        r = pool.run(g, pred, timeout=timeout, wait_timeout=max(30.0, 10.0 * timeout), mode=p.mode)
        if r.status == "ok" and r.equal:
            return _result(True, p.pred_out, has_answer=True, method=r.how)
        last = r
    if last.status == "timeout":
        return _result(False, p.pred_out, has_answer=True, method="timeout", timeout=True, error=last.error)
    if last.status == "error":
        return _result(False, p.pred_out, has_answer=True, method="error", error=last.error)
    return _result(False, p.pred_out, has_answer=True, method=last.how)


def _coerce_timeout(timeout: Any) -> float:
    try:
        t = float(timeout) if timeout is not None else DEFAULT_TIMEOUT
    except (TypeError, ValueError):
        return DEFAULT_TIMEOUT
    return t if t > 0 and t == t else DEFAULT_TIMEOUT


#: graders ``compute_score(..., grader=...)`` / ``reward_kwargs.grader`` accepts
GRADERS = ("nft", "authors", "math-verify")


def _grader(value: Any) -> str:
    g = "nft" if value is None else value
    if isinstance(g, str) and g.strip().lower().replace("_", "-") in GRADERS:
        return g.strip().lower().replace("_", "-")
    raise ValueError(f"reward_kwargs.grader must be one of {', '.join(GRADERS)}; got {value!r}")


def _flag(value: Any, name: str, default: bool) -> bool:
    """A boolean option or field: bool, numpy bool, 0/1, or the strings true/false/1/0/yes/no."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if getattr(getattr(value, "dtype", None), "kind", None) == "b" and getattr(value, "ndim", 1) == 0:
        return bool(value)  # a numpy bool scalar (verl's non_tensor_batch values)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise ValueError(f"{name} must be true or false, got {value!r}")


def _truncated(extra_info: Any) -> bool:
    if extra_info is None:
        return False
    get = getattr(extra_info, "get", None)
    if get is None:
        return False
    return _flag(get("truncated"), 'extra_info["truncated"]', False)


def _prepare_graded(grader: str, data_source: Any, solution_str: Any, ground_truth: Any, truncated: bool) -> dict | _Pending:
    if grader == "nft":
        return _prepare(solution_str, ground_truth, truncated)
    text = _as_text(solution_str)
    golds = _gold_list(ground_truth)
    pred = final_answer(text)
    if not golds:
        return _invalid_gold(pred, ground_truth, truncated)
    if truncated:
        return _result(False, pred, has_answer=bool(pred), method="truncated", truncated=True)
    route = "math_verify" if grader == "math-verify" else authors.route(_as_text(data_source))
    if route in ("strict_box", "minerva"):
        check = authors.strict_box_correct if route == "strict_box" else authors.minerva_correct
        best = None
        for g in golds:
            ok, their_pred = check(text, g)
            if ok or best is None:
                best = (ok, their_pred)
            if ok:
                break
        return _result(best[0], best[1], has_answer=bool(best[1]) and best[1] != "[INVALID]",
                       method=f"authors_{route}")
    error = ""
    if route == "unrouted":
        error = (f"data_source {_as_text(data_source)!r} is not routed by the authors' verifier.py "
                 "(their code raises NotImplementedError); scored with math-verify")[:300]
    pending = _Pending(pred, pred, [(g, text) for g in golds], mode="math_verify")
    pending.error = error
    return pending


def compute_score(data_source: Any, solution_str: Any, ground_truth: Any, extra_info: Any = None, **kwargs: Any) -> dict:
    """Score one response; see the module docstring. Never raises on any content.

    Keyword arguments used (all reach us from ``reward.custom_reward_function.reward_kwargs``):

    * ``timeout``: seconds of math-verify work, default :data:`DEFAULT_TIMEOUT`;
    * ``num_workers``: pool size, default :data:`DEFAULT_WORKERS`;
    * ``grader``: ``"nft"`` (default, this module), ``"authors"`` (the NFT authors' training reward,
      routed per ``data_source``, :mod:`nft.reward.authors`) or ``"math-verify"`` (plain math-verify
      over the whole response, as their ``verifier.py`` calls it);
    * ``truncated_is_negative`` (default True): a response with ``extra_info["truncated"]`` true
      (no EOS within ``max_response_length``, set by :class:`nft.reward.manager.NFTRewardManager`)
      scores ``-1`` with ``method="truncated"`` whatever its text says.

    An invalid ``grader`` or ``truncated_is_negative`` value, or an ``extra_info["truncated"]`` that
    is not a boolean, raises ``ValueError`` naming the option (a configuration error, not content).
    All other keyword arguments (verl passes e.g. ``reward_router_address``) are ignored.
    """
    grader = _grader(kwargs.get("grader"))
    negative_if_truncated = _flag(kwargs.get("truncated_is_negative"), "reward_kwargs.truncated_is_negative", True)
    truncated = _truncated(extra_info)
    try:
        prepared = _prepare_graded(grader, data_source, solution_str, ground_truth, truncated and negative_if_truncated)
        if isinstance(prepared, dict):
            prepared["truncated"] = truncated
            return prepared
        workers = kwargs.get("num_workers") or DEFAULT_WORKERS
        out = _finish(prepared, _coerce_timeout(kwargs.get("timeout")), max(1, int(workers)))
        out["truncated"] = truncated
        if getattr(prepared, "error", "") and not out["error"]:
            out["error"] = prepared.error
        return out
    except BaseException as e:  # noqa: BLE001 - a raised exception drops the sample in verl
        if isinstance(e, KeyboardInterrupt | SystemExit):
            raise
        return _result(False, "", has_answer=False, method="error", error=f"{type(e).__name__}: {e}"[:300],
                       truncated=truncated)


def compute_score_float(data_source: Any, solution_str: Any, ground_truth: Any, extra_info: Any = None, **kwargs: Any) -> float:
    """``compute_score(...)["score"]`` (+1.0 / -1.0), for tools that need a float."""
    return float(compute_score(data_source, solution_str, ground_truth, extra_info, **kwargs)["score"])


def score_batch(
    solutions: Sequence[str],
    ground_truths: Sequence[Any],
    *,
    timeout: float | None = None,
    num_workers: int | None = None,
    progress: bool = False,
    grader: str = "nft",
    data_sources: Sequence[str] | str | None = None,
) -> list[dict]:
    """Score ``solutions[i]`` against ``ground_truths[i]`` for all i, using ``num_workers`` worker
    processes (default: all cores) for the answers the fast path cannot decide.

    ``grader`` as in :func:`compute_score`; ``data_sources`` (one string for all, or one per
    solution) is what ``grader="authors"`` routes on. Returns dicts as :func:`compute_score`'s, in
    input order. Never raises on any content; raises ``ValueError`` only for misuse of the call
    itself (sequences of different lengths, a ``num_workers`` below 1, an unknown ``grader``).
    """
    solutions = list(solutions)
    ground_truths = list(ground_truths)
    if len(solutions) != len(ground_truths):
        raise ValueError(
            f"score_batch: solutions has {len(solutions)} items but ground_truths has {len(ground_truths)}"
        )
    grader = _grader(grader)
    if data_sources is None or isinstance(data_sources, str):
        sources = [data_sources or ""] * len(solutions)
    else:
        sources = list(data_sources)
        if len(sources) != len(solutions):
            raise ValueError(f"score_batch: solutions has {len(solutions)} items but data_sources has {len(sources)}")
    if num_workers is not None and int(num_workers) < 1:
        raise ValueError(f"score_batch: num_workers must be >= 1, got {num_workers}")
    workers = int(num_workers) if num_workers is not None else (os.cpu_count() or 1)
    t = _coerce_timeout(timeout)
    out: list[dict | None] = [None] * len(solutions)
    pending: list[tuple[int, _Pending]] = []
    for i, (s, g) in enumerate(zip(solutions, ground_truths)):
        try:
            r = _prepare_graded(grader, sources[i], s, g, False)
        except Exception as e:  # pragma: no cover - _prepare is total on str input
            r = _result(False, "", has_answer=False, method="error", error=f"{type(e).__name__}: {e}"[:300])
        if isinstance(r, dict):
            out[i] = r
        else:
            pending.append((i, r))
    bar = None
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=len(solutions), initial=len(solutions) - len(pending), desc="verify", file=sys.stderr)
        except Exception:
            bar = None
    lock = threading.Lock()

    def work(item: tuple[int, _Pending]) -> None:
        i, p = item
        try:
            out[i] = _finish(p, t, workers)
            if p.error and not out[i]["error"]:
                out[i]["error"] = p.error
        except Exception as e:  # pragma: no cover - _finish never raises by construction
            out[i] = _result(False, p.pred_out, has_answer=True, method="error", error=f"{type(e).__name__}: {e}"[:300])
        if bar is not None:
            with lock:
                bar.update(1)

    if pending:
        with ThreadPoolExecutor(max_workers=min(workers, len(pending)), thread_name_prefix="nft-verify") as ex:
            list(ex.map(work, pending))
    if bar is not None:
        bar.close()
    return out  # type: ignore[return-value]
