"""Benchmark: nft.reward versus plain math-verify called the way the NFT authors call it.

Usage::

    python benchmarks/verifier.py [--timeout 5] [--n-synthetic 2000] [--seed 0] [--skip-adversarial]
    python benchmarks/verifier.py --corpus frozen     # the frozen test part: aggregates only

Corpora:

* ``labelled``: ``tests/data/verifier/labelled.jsonl`` (human labels: equivalent forms, hard
  negatives, truncated outputs);
* ``realistic``: a deterministic synthetic corpus of 2-4k-character responses (reasoning with
  numbers and LaTeX, ending in ``\\boxed{}`` or a DAPO ``Answer:`` line; ~80% integer answers, some
  fractions / radicals / tuples, equivalent rewritings, near misses, ~5% truncated), labels by
  construction;
* ``frozen`` (only with ``--corpus frozen``): ``tests/data/verifier/frozen_test.jsonl``, written blind to
  the code and never used to develop it (see ``FROZEN_TEST.md``). Only aggregates are printed —
  accuracy, false positives, false negatives, and correct/total per ``class`` and per ``voice`` — for
  ours and for the baseline, never a row, so that reading the output cannot tune rules to its rows;
* ``adversarial``: pathological answers (huge exponents, ``9**9**9``, 50k characters of garbage,
  deep nesting, unbalanced braces, unicode, empty); every label is "wrong".

Baseline ("plain math-verify"): the NFT authors' ``verifier.py::math_verify_compute_score``
(NVlabs/NFT, read via code search, not copied) builds ``math_metric(gold_extraction_target=
(LatexExtractionConfig(),), pred_extraction_target=(ExprExtractionConfig(), LatexExtractionConfig()))``,
wraps the ground truth in ``\\boxed{}``, calls the metric on the *whole* response inside a bare
``try/except Exception`` that prints the error and scores it 0, then maps to score +-1. In their
March-2025 verl fork the reward ran in the driver's main thread, so math-verify's ``signal.alarm``
timeouts (5 s parse, 5 s verify) were active: the baseline here runs the same way, one response
at a time, in the main thread of a child process (a response that takes more than ``--hang-limit``
seconds is counted as a hang, the child is killed and restarted). We also show what the same call
does from a worker thread, which is where verl 0.9.1 runs reward functions.

Ours: ``nft.reward.compute_score`` one response at a time in the calling thread (latency figures
and single-thread throughput) and ``nft.reward.score_batch`` with all cores (throughput).

Figures: accuracy, false positives (scored right, label wrong), false negatives, responses per
second, p50/p99/max latency per response, timeouts, hangs (latency > timeout + 1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABELLED = ROOT / "tests" / "data" / "verifier" / "labelled.jsonl"
FROZEN = ROOT / "tests" / "data" / "verifier" / "frozen_test.jsonl"


# ------------------------------------------------------------------------------------------
# baseline: plain math-verify as the authors call it
# ------------------------------------------------------------------------------------------
def _baseline_score(verify_func, model_output: str, ground_truth: str) -> float:
    ret = 0.0
    try:
        ret, _ = verify_func(["\\boxed{" + ground_truth + "}"], [model_output])
    except Exception:  # the authors print the error and score it as wrong
        ret = 0.0
    return 1.0 if ret > 0.5 else -1.0


def _make_verify_func():
    import logging

    from math_verify.metric import math_metric
    from math_verify.parser import ExprExtractionConfig, LatexExtractionConfig

    logging.disable(logging.WARNING)
    return math_metric(
        gold_extraction_target=(LatexExtractionConfig(),),
        pred_extraction_target=(ExprExtractionConfig(), LatexExtractionConfig()),
    )


def _baseline_child() -> None:
    """Child process: read JSON lines {solution, ground_truth}, write {score, latency}."""
    import io

    vf = _make_verify_func()
    out = sys.stdout
    sys.stdout = io.StringIO()  # the authors' except-clause prints: keep it off the protocol
    for line in sys.stdin:
        item = json.loads(line)
        t0 = time.perf_counter()
        s = _baseline_score(vf, item["solution"], item["ground_truth"])
        dt = time.perf_counter() - t0
        sys.stdout = io.StringIO()
        out.write(json.dumps({"score": s, "latency": dt}) + "\n")
        out.flush()


def run_baseline(items: list[dict], hang_limit: float) -> tuple[list[float], list[float], int, float]:
    """Scores, per-item latencies, hangs and busy time of the baseline over ``items``. The busy time
    is the sum of per-response latencies measured inside the child (no IPC, no start-up): this
    favours the baseline."""
    scores: list[float] = []
    lats: list[float] = []
    hangs = 0
    i = 0
    while i < len(items):
        proc = subprocess.Popen(
            [sys.executable, __file__, "--baseline-child"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        # warm-up (imports) outside the timed region
        proc.stdin.write(json.dumps({"solution": "\\boxed{1}", "ground_truth": "1"}) + "\n")
        proc.stdin.flush()
        proc.stdout.readline()
        try:
            while i < len(items):
                proc.stdin.write(json.dumps({"solution": items[i]["solution"], "ground_truth": items[i]["ground_truth"]}) + "\n")
                proc.stdin.flush()
                box: list[str] = []
                reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
                reader.start()
                reader.join(hang_limit)
                if not box or not box[0]:
                    hangs += 1
                    scores.append(-1.0)
                    lats.append(hang_limit)
                    i += 1
                    break
                r = json.loads(box[0])
                scores.append(r["score"])
                lats.append(r["latency"])
                i += 1
        finally:
            proc.kill()
            proc.wait()
    return scores, lats, hangs, sum(lats)


def baseline_in_thread(items: list[dict]) -> tuple[int, int]:
    """How the authors' call behaves from a worker thread (verl 0.9.1): (#scored right, #labelled right)."""
    vf = _make_verify_func()
    pos = [it for it in items if it["label"]]
    import contextlib
    import io

    with ThreadPoolExecutor(2) as ex, contextlib.redirect_stdout(io.StringIO()):
        res = list(ex.map(lambda it: _baseline_score(vf, it["solution"], it["ground_truth"]), pos))
    return sum(1 for r in res if r > 0), len(pos)


# ------------------------------------------------------------------------------------------
# corpora
# ------------------------------------------------------------------------------------------
def load_labelled(path: str | Path = LABELLED) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


_WORDS = (
    "we consider the function and substitute the value into the equation then simplify both sides "
    "notice that the expression factors so the roots satisfy the quadratic by Vieta the sum of the "
    "roots equals the negated linear coefficient hence counting the cases separately gives"
).split()


def _reasoning(rng: random.Random, n_chars: int) -> str:
    parts: list[str] = []
    size = 0
    while size < n_chars:
        kind = rng.random()
        if kind < 0.5:
            s = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 20))).capitalize() + "."
        elif kind < 0.8:
            a, b = rng.randint(2, 99), rng.randint(2, 99)
            s = f"We compute ${a} \\times {b} = {a * b}$ and ${a} + {b} = {a + b}$."
        else:
            a, b = rng.randint(1, 9), rng.randint(2, 9)
            s = f"So $\\frac{{{a}}}{{{b}}} + x^2 = {a + b}$ and $x = \\sqrt{{{b}}}$ in this case."
        parts.append(s)
        size += len(s) + 1
    return " ".join(parts)


def make_realistic(n: int, seed: int) -> list[dict]:
    """Deterministic synthetic corpus; see the module docstring. Labels by construction."""
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        r = rng.random()
        if r < 0.80:  # integer answers (DAPO-Math-17k style)
            v = rng.randint(-50, 2000) if rng.random() < 0.1 else rng.randint(0, 999)
            gold = str(v)
            right = [str(v), f"{v:,}" if abs(v) >= 1000 else str(v), f"{v}^\\circ" if v > 0 else str(v)]
            wrong = [str(v + rng.choice([-2, -1, 1, 2, 10])), str(-v) if v else "1"]
        elif r < 0.90:  # fractions
            a, b = rng.randint(1, 30), rng.randint(2, 30)
            while a % b == 0:
                a += 1
            from fractions import Fraction

            f = Fraction(a, b)
            gold = f"\\frac{{{f.numerator}}}{{{f.denominator}}}"
            right = [gold, f"{f.numerator}/{f.denominator}", f"\\dfrac{{{2 * f.numerator}}}{{{2 * f.denominator}}}"]
            wrong = [f"\\frac{{{f.numerator + 1}}}{{{f.denominator}}}", f"\\frac{{{f.denominator}}}{{{f.numerator}}}"]
        elif r < 0.95:  # radicals
            k, m = rng.randint(2, 9), rng.choice([2, 3, 5, 6, 7])
            gold = f"{k}\\sqrt{{{m}}}"
            right = [gold, f"\\sqrt{{{k * k * m}}}"]
            wrong = [f"{k + 1}\\sqrt{{{m}}}", f"{k}\\sqrt{{{m + 1}}}"]
        else:  # tuples
            a, b = rng.randint(-9, 9), rng.randint(-9, 9)
            gold = f"({a}, {b})"
            right = [f"({a},{b})", f"\\left({a}, {b}\\right)"]
            wrong = [f"({b}, {a})" if a != b else f"({a}, {b + 1})", f"({a}, {b + 1})"]
        body = _reasoning(rng, rng.randint(2000, 3800))
        u = rng.random()
        if u < 0.05:  # truncated: no final answer (the right value may appear in the reasoning)
            sol = body + f" so far the partial value is {right[0]} and next we need to check whether"
            label = False
        else:
            label = u < 0.55
            ans = rng.choice(right if label else wrong)
            if rng.random() < 0.3:
                sol = body + f"\n\nAnswer: {ans}"
            else:
                sol = body + f"\n\nTherefore, the final answer is $\\boxed{{{ans}}}$."
        items.append({"solution": sol, "ground_truth": gold, "label": label})
    return items


def make_adversarial() -> list[dict]:
    garbage = "".join(chr(33 + (i * 7919) % 90) for i in range(50_000))
    answers = [
        "\\boxed{9**9**9}",
        "\\boxed{9^{9^{9^{9}}}}",
        "\\boxed{10^{10^{10^{10}}}}",
        "\\boxed{2^{2^{2^{2^{2^{2^{2}}}}}}}",
        "\\boxed{(10^{100000})!}",
        "\\boxed{" + garbage + "}",
        garbage,
        "\\boxed{" + "(" * 2000 + "1" + ")" * 2000 + "}",
        "\\boxed{" + "\\frac{1}{" * 300 + "2" + "}" * 300 + "}",
        "\\boxed{" + "{" * 5000 + "1" + "}" * 4999,
        "\\boxed{1}}}}}{{{{" * 1000,
        "\\boxed{\u202e\u0663\u2067\U0001f600\u0000\ufffd}",
        "\\boxed{" + "x^" * 3000 + "2}",
        "",
        "\\boxed{}",
        "Answer: " + "9" * 20000,
        "\\boxed{" + "+".join(f"x_{{{i}}}^{{{i}}}" for i in range(1500)) + "}",
        "\\boxed{\\sum_{k=1}^{10^{12}} k^{k}}",
        # 60,000 characters of one construct (extraction must stay linear)
        "$$" * 30_000,
        "\\boxed{" * 8_571,
        "\\boxed{" + "\\frac{" * 10_000,
        "\\left(" * 10_000,
    ]
    return [{"solution": a, "ground_truth": "7", "label": False} for a in answers]


# ------------------------------------------------------------------------------------------
# measurement
# ------------------------------------------------------------------------------------------
def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))
    return s[k]


def summarize(name: str, items: list[dict], scores: list[float], lats: list[float], wall: float, timeouts: int, hangs: int) -> dict:
    n = len(items)
    pred = [s > 0 for s in scores]
    lab = [bool(it["label"]) for it in items]
    fp = sum(1 for p, l in zip(pred, lab) if p and not l)
    fn = sum(1 for p, l in zip(pred, lab) if l and not p)
    return {
        "name": name, "n": n, "acc": (n - fp - fn) / n, "fp": fp, "fn": fn,
        "rps": n / wall if wall > 0 else float("inf"),
        "p50": _pct(lats, 0.5), "p99": _pct(lats, 0.99), "max": max(lats) if lats else float("nan"),
        "timeouts": timeouts, "hangs": hangs,
    }


def run_ours_sequential(items: list[dict], timeout: float) -> tuple[list[float], list[float], float, int, int, list[dict]]:
    from nft.reward import compute_score

    scores, lats, results = [], [], []
    t0 = time.perf_counter()
    c0 = time.process_time()
    for it in items:
        t = time.perf_counter()
        r = compute_score("bench", it["solution"], it["ground_truth"], timeout=timeout)
        lats.append(time.perf_counter() - t)
        scores.append(r["score"])
        results.append(r)
    wall = time.perf_counter() - t0
    run_ours_sequential.cpu_seconds = time.process_time() - c0  # this process only (not the workers)
    timeouts = sum(1 for r in results if r["timeout"])
    hangs = sum(1 for x in lats if x > timeout + 1.0)
    return scores, lats, wall, timeouts, hangs, results


def run_ours_batch(items: list[dict], timeout: float, workers: int) -> tuple[list[float], float]:
    from nft.reward import score_batch

    t0 = time.perf_counter()
    res = score_batch([it["solution"] for it in items], [it["ground_truth"] for it in items], timeout=timeout, num_workers=workers)
    return [r["score"] for r in res], time.perf_counter() - t0


def print_table(rows: list[dict]) -> None:
    hdr = f"{'verifier':44s} {'n':>5s} {'acc':>7s} {'FP':>4s} {'FN':>4s} {'resp/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} {'t/o':>4s} {'hang':>4s}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        lat = lambda x: f"{1000 * x:8.1f}" if x == x else f"{'-':>8s}"  # noqa: E731
        print(
            f"{r['name']:44s} {r['n']:5d} {100 * r['acc']:6.1f}% {r['fp']:4d} {r['fn']:4d} {r['rps']:9.1f} "
            f"{lat(r['p50'])} {lat(r['p99'])} {lat(r['max'])} {r['timeouts']:4d} {r['hangs']:4d}"
        )


def bench_corpus(label: str, items: list[dict], args) -> None:
    from nft.reward import shutdown_pool

    print(f"\n== {label}: {len(items)} responses, mean length {sum(len(i['solution']) for i in items) / len(items):.0f} chars")
    # warm the worker pool (process start is a one-off cost, not a per-response one)
    from nft.reward import compute_score

    compute_score("bench", "\\boxed{\\sqrt{2}}", "\\sqrt{2}", timeout=args.timeout)
    s, lats, wall, tos, hangs, results = run_ours_sequential(items, args.timeout)
    methods = Counter(r["method"] for r in results)
    print("nft.reward decided by: " + ", ".join(f"{k} {v} ({100 * v / len(items):.0f}%)" for k, v in methods.most_common()))
    rows = [summarize("nft.reward compute_score (1 thread)", items, s, lats, wall, tos, hangs)]
    bs, bwall = run_ours_batch(items, args.timeout, args.workers)
    rb = summarize(f"nft.reward score_batch ({args.workers} workers)", items, bs, [], bwall, 0, 0)
    rb.update(p50=float("nan"), p99=float("nan"), max=float("nan"), timeouts=tos, hangs=hangs)
    rows.append(rb)
    b_s, b_lats, b_hangs, b_wall = run_baseline(items, args.hang_limit)
    rows.append(summarize("plain math-verify (authors' call, main thread)", items, b_s, b_lats, b_wall, 0, b_hangs))
    print_table(rows)
    print(f"throughput ratio vs plain math-verify: compute_score {rows[0]['rps'] / rows[2]['rps']:.1f}x, "
          f"score_batch {rows[1]['rps'] / rows[2]['rps']:.1f}x; max latency bound timeout + 1 s = {args.timeout + 1:.1f} s")
    cpu = run_ours_sequential.cpu_seconds
    print(f"compute_score in-process CPU time: {cpu:.2f} s = {len(items) / cpu if cpu > 0 else float('inf'):.0f} resp/s "
          "(extraction + fast path; math-verify work is in the workers; less sensitive to other jobs than wall time)")
    shutdown_pool()


def bench_frozen(args) -> None:
    """Accuracy, FP and FN of ours and of the baseline on the frozen test part, with correct/total per
    class and per voice: aggregates only (no row, no answer, no id is printed)."""
    from nft.reward import score_batch, shutdown_pool

    items = load_labelled(args.frozen)
    ours = [r["score"] for r in score_batch([i["solution"] for i in items], [i["ground_truth"] for i in items],
                                            timeout=args.timeout, num_workers=args.workers)]
    shutdown_pool()
    base, _lats, hangs, _busy = run_baseline(items, args.hang_limit)
    print(f"\n== frozen test part: {len(items)} responses ({sum(1 for i in items if i['label'])} right, "
          f"{sum(1 for i in items if not i['label'])} wrong by label)")
    for name, scores in (("nft.reward", ours), ("plain math-verify (authors' call)", base)):
        r = summarize(name, items, scores, [0.0], 1.0, 0, 0)
        print(f"{name:36s} accuracy {100 * r['acc']:5.1f}%  FP {r['fp']:3d}  FN {r['fn']:3d}  "
              f"FP per 500 {500 * r['fp'] / r['n']:.2f}" + (f"  hangs {hangs}" if scores is base else ""))
    for key in ("class", "voice"):
        groups = sorted({str(i.get(key, "")) for i in items})
        print(f"\ncorrect / total per {key} (nft.reward | plain math-verify):")
        for g in groups:
            idx = [k for k, i in enumerate(items) if str(i.get(key, "")) == g]
            ok = lambda sc: sum(1 for k in idx if (sc[k] > 0) == bool(items[k]["label"]))  # noqa: E731
            fp = lambda sc: sum(1 for k in idx if sc[k] > 0 and not items[k]["label"])  # noqa: E731
            print(f"  {g:32s} {ok(ours):4d}/{len(idx):<4d} FP {fp(ours):2d} | {ok(base):4d}/{len(idx):<4d} FP {fp(base):2d}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timeout", type=float, default=5.0, help="nft.reward per-answer timeout (s)")
    ap.add_argument("--n-synthetic", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--hang-limit", type=float, default=30.0, help="baseline: seconds before a response counts as a hang")
    ap.add_argument("--skip-adversarial", action="store_true")
    ap.add_argument("--labelled", default=str(LABELLED), help="labelled JSONL (default: tests/data/verifier/labelled.jsonl)")
    ap.add_argument("--corpus", choices=["default", "frozen"], default="default",
                    help="default: labelled, realistic, adversarial; frozen: the frozen test part, aggregates only")
    ap.add_argument("--frozen", default=str(FROZEN), help=argparse.SUPPRESS)
    ap.add_argument("--baseline-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.baseline_child:
        _baseline_child()
        return
    sys.path.insert(0, str(ROOT))
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; nft.reward timeout {args.timeout} s")
    if args.corpus == "frozen":
        if not Path(args.frozen).exists():
            sys.exit(f"{args.frozen} is not in this checkout (it is committed to main by its author)")
        bench_frozen(args)
        return
    labelled = load_labelled(args.labelled)
    bench_corpus("labelled set", labelled, args)
    bench_corpus("realistic synthetic corpus", make_realistic(args.n_synthetic, args.seed), args)
    if not args.skip_adversarial:
        bench_corpus("adversarial answers", make_adversarial(), args)
    ok, n = baseline_in_thread(labelled)
    print(f"\nplain math-verify called from a worker thread (as verl 0.9.1 calls reward functions): "
          f"{ok}/{n} correct labelled answers scored correct (signal.alarm cannot be set off the main thread)")


if __name__ == "__main__":
    main()
