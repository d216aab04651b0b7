"""Per-problem metrics (avg@k, pass@k, maj@k) and bootstrap confidence intervals over problems.

Definitions, for one problem with ``n`` scored samples of which ``c`` are correct:

- ``avg@n``  = c / n  (the paper's avg@k: mean correctness of the k samples; the benchmark value
  is the mean over problems, reported in percent).
- ``pass@k`` = 1 - C(n-c, k) / C(n, k)  for k <= n  (unbiased estimator of "at least one of k
  samples is correct", Chen et al. 2021, computed as a stable product).
- ``maj@n``  = correctness of the majority-voted final answer among the n samples. Votes go to
  answer *classes*: every correct sample belongs to one class (all correct answers are equivalent
  to the reference, hence to each other); wrong samples are grouped by their normalised ``pred``
  string (see :func:`normalize_pred`); samples with no extracted answer (empty ``pred``) abstain.
  A tie between the largest classes counts as the expected value of a uniform random tie-break,
  i.e. (number of tied classes that are correct) / (number of tied classes). If every sample
  abstains, maj@n = 0.

The benchmark value of each metric is the mean over problems; its 95 % interval is the
percentile interval of that mean over ``n_boot`` bootstrap resamples of the problems (seeded).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

__all__ = [
    "aggregate",
    "avg_at_n",
    "bootstrap_ci",
    "default_ks",
    "maj_at_n",
    "normalize_pred",
    "pass_at_k",
    "problem_metrics",
]


def avg_at_n(correct: Sequence[float]) -> float:
    """Mean correctness of the samples of one problem (c / n)."""
    if len(correct) == 0:
        raise ValueError("avg@n needs at least one sample")
    return float(np.mean(np.asarray(correct, dtype=float)))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k = 1 - C(n-c, k) / C(n, k) for one problem with n samples, c correct.

    Computed as 1 - prod_{i=n-c+1}^{n} (1 - k / i), which equals the binomial ratio and does not
    overflow for large n.
    """
    if not (isinstance(n, int) and isinstance(c, int) and isinstance(k, int)):
        raise TypeError(f"pass_at_k takes integers, got n={n!r}, c={c!r}, k={k!r}")
    if n < 1 or k < 1 or k > n or c < 0 or c > n:
        raise ValueError(f"pass_at_k needs 1 <= k <= n and 0 <= c <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return float(1.0 - prod)


_STRIP_PATTERNS = [
    (re.compile(r"\\left|\\right|\\!|\\,|\\;|\\:|\\displaystyle"), ""),
    (re.compile(r"\\[dt]frac"), r"\\frac"),
    (re.compile(r"\\text\{\s*([^{}]*?)\s*\}"), r"\1"),
    (re.compile(r"\\mathrm\{\s*([^{}]*?)\s*\}"), r"\1"),
    (re.compile(r"\s+"), ""),
]


def normalize_pred(pred: str | None) -> str:
    """Canonical voting key of a predicted answer: spacing, ``\\left``/``\\right``, ``\\dfrac``,
    ``\\text{}``, surrounding ``$`` and a trailing period removed. Empty string = no answer."""
    if pred is None:
        return ""
    s = str(pred).strip()
    s = s.strip("$").strip()
    for pat, rep in _STRIP_PATTERNS:
        s = pat.sub(rep, s)
    s = s.rstrip(".")
    return s


def maj_at_n(correct: Sequence[float], preds: Sequence[str | None]) -> float:
    """Majority-vote correctness of one problem's samples (see module docstring for classes/ties)."""
    if len(correct) != len(preds):
        raise ValueError(f"maj@n: {len(correct)} correctness values but {len(preds)} preds")
    votes: Counter[tuple[bool, str]] = Counter()
    for acc, pred in zip(correct, preds):
        if float(acc) >= 0.5:
            votes[(True, "")] += 1
            continue
        key = normalize_pred(pred)
        if key == "":
            continue  # abstention: no final answer extracted
        votes[(False, key)] += 1
    if not votes:
        return 0.0
    top = max(votes.values())
    tied = [cls for cls, v in votes.items() if v == top]
    return sum(1.0 for ok, _ in tied if ok) / len(tied)


def default_ks(n: int) -> list[int]:
    """k values reported for pass@k: 1, 2, 4, ... below n, then n."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    ks.append(n)
    return ks


def problem_metrics(correct: Sequence[float], preds: Sequence[str | None], ks: Sequence[int] | None = None) -> dict:
    """All metrics of one problem: ``n``, ``correct`` (count), ``avg``, ``maj``, ``pass@k`` per k."""
    n = len(correct)
    if n == 0:
        raise ValueError("a problem needs at least one scored sample")
    c = int(round(sum(1 for a in correct if float(a) >= 0.5)))
    out = {"n": n, "correct": c, "avg": avg_at_n(correct), "maj": maj_at_n(correct, preds)}
    for k in ks if ks is not None else default_ks(n):
        if k <= n:
            out[f"pass@{k}"] = pass_at_k(n, c, k)
    return out


def bootstrap_ci(values: Sequence[float], *, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile (1-alpha) interval of the mean of ``values`` over ``n_boot`` resamples of its
    entries with replacement (numpy ``default_rng(seed)``). A single value gives a zero-width interval."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("bootstrap of an empty set of problems")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    means = x[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def aggregate(per_problem: Sequence[dict], *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Benchmark-level metrics in percent from :func:`problem_metrics` dicts.

    Keys: ``num_problems``, ``n`` (samples per problem; the smallest if they differ),
    ``avg@n``, ``maj@n``, ``pass@k`` for each k available in every problem, each as
    ``{"value": %, "ci95": [lo %, hi %]}``. The ``@n`` suffix uses the actual ``n``.
    """
    if not per_problem:
        raise ValueError("no problems to aggregate")
    ns = [p["n"] for p in per_problem]
    n = min(ns)
    out: dict = {"num_problems": len(per_problem), "n": n, "n_uniform": len(set(ns)) == 1}

    def stat(vals: list[float]) -> dict:
        lo, hi = bootstrap_ci(vals, n_boot=n_boot, seed=seed)
        return {"value": 100.0 * float(np.mean(vals)), "ci95": [100.0 * lo, 100.0 * hi]}

    out[f"avg@{n}"] = stat([p["avg"] for p in per_problem])
    out[f"maj@{n}"] = stat([p["maj"] for p in per_problem])
    common = set.intersection(*(set(k for k in p if k.startswith("pass@")) for p in per_problem))
    for key in sorted(common, key=lambda s: int(s.split("@")[1])):
        out[key] = stat([p[key] for p in per_problem])
    return out

