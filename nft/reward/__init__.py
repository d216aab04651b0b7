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
* ``has_answer`` (bool), ``timeout`` (bool), ``method`` (str: ``fast``, ``math_verify``,
  ``string``, ``no_answer``, ``too_long``, ``timeout``, ``error``, ``invalid_ground_truth``),
  ``error`` (str, ``""`` when none).

Decision procedure for one response:

1. extract the final answer (:func:`nft.reward._extract.extract_answer`); none -> wrong;
2. the exact fast path (:func:`nft.reward._extract.fast_compare`) decides plain-number answers
   in the calling thread, without sympy and without a process round-trip;
3. anything else goes to math-verify in a worker process with a hard deadline of ``timeout``
   seconds (default 5, env ``NFT_REWARD_TIMEOUT``, or ``reward_kwargs.timeout``); a worker that
   misses it is killed and the answer scores wrong with ``timeout=True``.

``ground_truth`` may be a string, a number, or a list of acceptable answers (any match counts).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from nft.reward._extract import canonical_number, clean, extract_answer, fast_compare, last_boxed, number_value
from nft.reward._pool import get_pool, shutdown_pool

__all__ = ["compute_score", "compute_score_float", "score_batch", "shutdown_pool", "DEFAULT_TIMEOUT"]


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


def _result(score: bool, pred: str, *, has_answer: bool, method: str, timeout: bool = False, error: str = "") -> dict:
    return {
        "score": 1.0 if score else -1.0,
        "acc": 1.0 if score else 0.0,
        "pred": pred,
        "has_answer": bool(has_answer),
        "timeout": bool(timeout),
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
    """A response the fast path could not decide: needs math-verify against ``golds``."""

    __slots__ = ("pred", "pred_out", "golds")

    def __init__(self, pred: str, pred_out: str, golds: list[str]):
        self.pred = pred
        self.pred_out = pred_out
        self.golds = golds


def _prepare(solution_str: Any, ground_truth: Any) -> dict | _Pending:
    """Extraction and fast path; returns a final result or the work left for math-verify."""
    golds = [_clean_gold(g) for g in _gold_list(ground_truth)]
    golds = [g for g in golds if g]
    text = _as_text(solution_str)
    ans, _src = extract_answer(text)
    pred = clean(ans) if ans is not None else ""
    if not golds:
        return _result(
            False, pred, has_answer=bool(pred), method="invalid_ground_truth",
            error=f"ground_truth is empty or not a string/number/list: {ground_truth!r}"[:300],
        )
    if not pred:
        return _result(False, "", has_answer=False, method="no_answer")
    num = number_value(pred)
    pred_out = canonical_number(num) if num is not None else pred
    undecided = []
    for g in golds:
        verdict = fast_compare(g, pred)
        if verdict is True:
            return _result(True, pred_out, has_answer=True, method="fast")
        if verdict is None:
            undecided.append(g)
    if not undecided:
        return _result(False, pred_out, has_answer=True, method="fast")
    if len(pred) > MAX_ANSWER_CHARS and len(pred) > 20 * max(len(g) for g in undecided):
        return _result(False, pred_out[:200], has_answer=True, method="too_long")
    return _Pending(pred, pred_out, undecided)


def _finish(p: _Pending, timeout: float, num_workers: int) -> dict:
    pool = get_pool(num_workers)
    last = None
    for g in p.golds:
        r = pool.run(g, p.pred, timeout=timeout, wait_timeout=max(30.0, 10.0 * timeout))
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


def compute_score(data_source: Any, solution_str: Any, ground_truth: Any, extra_info: Any = None, **kwargs: Any) -> dict:
    """Score one response; see the module docstring. Never raises.

    Keyword arguments used: ``timeout`` (seconds of math-verify work, default
    :data:`DEFAULT_TIMEOUT`), ``num_workers`` (pool size, default :data:`DEFAULT_WORKERS`); all
    other keyword arguments (verl passes e.g. ``reward_router_address``) are ignored.
    ``data_source`` and ``extra_info`` do not change the decision.
    """
    try:
        prepared = _prepare(solution_str, ground_truth)
        if isinstance(prepared, dict):
            return prepared
        workers = kwargs.get("num_workers") or DEFAULT_WORKERS
        return _finish(prepared, _coerce_timeout(kwargs.get("timeout")), max(1, int(workers)))
    except BaseException as e:  # noqa: BLE001 - a raised exception drops the sample in verl
        if isinstance(e, KeyboardInterrupt | SystemExit):
            raise
        return _result(False, "", has_answer=False, method="error", error=f"{type(e).__name__}: {e}"[:300])


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
) -> list[dict]:
    """Score ``solutions[i]`` against ``ground_truths[i]`` for all i, using ``num_workers`` worker
    processes (default: all cores) for the answers the fast path cannot decide.

    Returns dicts as :func:`compute_score`'s, in input order. Never raises on any content; raises
    ``ValueError`` only for misuse of the call itself (sequences of different lengths, a
    ``num_workers`` below 1).
    """
    solutions = list(solutions)
    ground_truths = list(ground_truths)
    if len(solutions) != len(ground_truths):
        raise ValueError(
            f"score_batch: solutions has {len(solutions)} items but ground_truths has {len(ground_truths)}"
        )
    if num_workers is not None and int(num_workers) < 1:
        raise ValueError(f"score_batch: num_workers must be >= 1, got {num_workers}")
    workers = int(num_workers) if num_workers is not None else (os.cpu_count() or 1)
    t = _coerce_timeout(timeout)
    out: list[dict | None] = [None] * len(solutions)
    pending: list[tuple[int, _Pending]] = []
    for i, (s, g) in enumerate(zip(solutions, ground_truths)):
        try:
            r = _prepare(s, g)
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
