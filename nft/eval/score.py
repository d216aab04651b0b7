"""Scoring responses with the verifier's batch API and computing per-benchmark metrics.

Scores are appended per problem to ``<out>/scores.jsonl`` under a key of (problem, hash of its
responses), so an interrupted scoring pass resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections import OrderedDict

from .benchmarks import canonical_benchmark, ground_truth_column, table_column, to_plain
from .benchmarks import problem_id as make_problem_id
from .cache import open_append, read_records, record_key
from .metrics import aggregate, default_ks, problem_metrics

__all__ = ["SCORES_FILE", "compute_results", "load_responses_parquet", "parse_graders", "render_grader_table",
           "score_records"]

SCORES_FILE = "scores.jsonl"


def load_responses_parquet(path: str, benchmark: str | None = None) -> list[dict]:
    """Rows of a verl generation parquet -> records (one per distinct problem; duplicate rows of one
    problem have their responses concatenated). Columns: ``data_source``,
    ``reward_model.ground_truth`` (struct or flat), ``responses`` (list / numpy array of strings);
    ``prompt`` optional (used to tell problems apart). The benchmark of a row is ``benchmark`` if
    given, else ``extra_info.benchmark`` if present (files written by ``nft.eval generate``), else
    ``canonical_benchmark(data_source)``."""
    import pandas as pd

    if not os.path.isfile(path):
        raise FileNotFoundError(f"responses file '{path}' does not exist")
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for non-parquet input
        raise ValueError(f"{path}: cannot read as parquet ({e})") from None
    for col in ("data_source", "responses"):
        if col not in df.columns:
            raise ValueError(f"{path}: missing column '{col}'; columns are {list(df.columns)}")
    gts = ground_truth_column(df, path)
    has_prompt = "prompt" in df.columns
    extra_infos = df["extra_info"].tolist() if "extra_info" in df.columns else None
    recs: OrderedDict[str, dict] = OrderedDict()
    for i, (ds, resp) in enumerate(zip(df["data_source"].tolist(), df["responses"].tolist())):
        where = f"{path}: row {i}"
        if not isinstance(ds, str) or not ds:
            raise ValueError(f"{where}: column 'data_source' must be a non-empty string, got {ds!r}")
        gt = to_plain(gts[i])
        if isinstance(gt, (int, float)) and not isinstance(gt, bool):
            gt = str(gt)
        if not isinstance(gt, str) or not gt.strip():
            raise ValueError(f"{where}: column 'reward_model.ground_truth' must be a non-empty string, got {gt!r}")
        resp = to_plain(resp)
        if isinstance(resp, str):
            resp = [resp]
        if not isinstance(resp, list) or not resp:
            raise ValueError(f"{where}: column 'responses' must be a non-empty list of strings, got {type(resp).__name__}")
        for j, r in enumerate(resp):
            if not isinstance(r, str):
                raise ValueError(f"{where}: column 'responses'[{j}] is {type(r).__name__}, expected a string")
        bench = benchmark
        if bench is None and extra_infos is not None:
            ei = to_plain(extra_infos[i])
            if isinstance(ei, dict) and isinstance(ei.get("benchmark"), str) and ei["benchmark"]:
                bench = ei["benchmark"]  # written by nft.eval generate
        bench = bench or canonical_benchmark(ds)
        prompt = to_plain(df["prompt"].iloc[i]) if has_prompt else None
        pid = make_problem_id(bench, prompt if prompt is not None else [{"row": i}], gt)
        if pid in recs:
            recs[pid]["responses"].extend(resp)
            recs[pid]["rows"].append(i)
        else:
            recs[pid] = {"benchmark": bench, "problem_id": pid, "data_source": ds, "ground_truth": gt,
                         "responses": list(resp), "rows": [i]}
    if not recs:
        raise ValueError(f"{path}: no rows")
    return list(recs.values())


def _resp_hash(rec: dict) -> str:
    blob = json.dumps([rec["ground_truth"], rec["responses"]], ensure_ascii=False)
    return hashlib.sha1(blob.encode("utf-8")).hexdigest()[:16]


def _import_score_batch():
    try:
        from nft.reward import score_batch
    except ImportError as e:
        raise RuntimeError(f"the verifier nft.reward.score_batch does not import ({e})") from None
    return score_batch


def score_records(
    records: list[dict],
    out_dir: str,
    *,
    timeout: float | None = None,
    num_workers: int | None = None,
    progress: bool = True,
    responses_per_call: int = 512,
    grader: str = "nft",
) -> list[dict]:
    """Adds ``acc`` (0/1 per response) and ``pred`` (verifier's extracted answer) to each record,
    calling ``nft.reward.score_batch`` on chunks of about ``responses_per_call`` responses; finished
    problems are cached in ``<out_dir>/scores.jsonl``.

    ``grader``: ``nft`` (default), ``authors`` (the NFT authors' reward, routed on each record's
    ``data_source``) or ``math-verify`` (plain math-verify over the whole response); each grader
    has its own cache entries."""
    from tqdm import tqdm

    grader = parse_graders(grader)[0]
    cache_path = os.path.join(out_dir, SCORES_FILE)
    done = read_records(cache_path)
    # the default grader keeps the key it always had, so existing caches stay valid
    tail = () if grader == "nft" else (f"grader={grader}",)
    keys = [record_key(r["benchmark"], r["problem_id"], _resp_hash(r), *tail) for r in records]
    todo = [i for i, k in enumerate(keys) if k not in done]
    if len(todo) < len(records):
        print(f"[nft.eval] resuming: {len(records) - len(todo)}/{len(records)} problems already scored "
              f"in {cache_path}", file=sys.stderr)
    if todo:
        score_batch = _import_score_batch()
        total = sum(len(records[i]["responses"]) for i in todo)
        bar = tqdm(total=total, desc="score", unit="resp", disable=not progress, file=sys.stderr)
        with open_append(cache_path) as app:
            pos = 0
            while pos < len(todo):
                chunk, size = [], 0
                while pos < len(todo) and (not chunk or size + len(records[todo[pos]]["responses"]) <= responses_per_call):
                    chunk.append(todo[pos])
                    size += len(records[todo[pos]]["responses"])
                    pos += 1
                sols, gts, sources = [], [], []
                for i in chunk:
                    m = len(records[i]["responses"])
                    sols.extend(records[i]["responses"])
                    gts.extend([records[i]["ground_truth"]] * m)
                    sources.extend([records[i].get("data_source") or records[i]["benchmark"]] * m)
                if grader == "nft":
                    scored = score_batch(sols, gts, timeout=timeout, num_workers=num_workers, progress=False)
                else:
                    scored = score_batch(sols, gts, timeout=timeout, num_workers=num_workers, progress=False,
                                         grader=grader, data_sources=sources)
                if len(scored) != len(sols):
                    raise RuntimeError(f"score_batch returned {len(scored)} results for {len(sols)} responses")
                at = 0
                for i in chunk:
                    m = len(records[i]["responses"])
                    part = scored[at:at + m]
                    at += m
                    rec = {
                        "key": keys[i],
                        "acc": [float(d.get("acc", 1.0 if d.get("score", -1.0) > 0 else 0.0)) for d in part],
                        "pred": ["" if d.get("pred") is None else str(d.get("pred")) for d in part],
                        "timeout": [bool(d.get("timeout", False)) for d in part],
                    }
                    app.write(rec)
                    done[keys[i]] = rec
                    bar.update(m)
        bar.close()
    out = []
    for r, k in zip(records, keys):
        s = done[k]
        out.append({**r, "acc": s["acc"], "pred": s["pred"], "timeout": s.get("timeout", [])})
    return out


def compute_results(scored: list[dict], *, label: str, n_boot: int = 1000, seed: int = 0, meta: dict | None = None) -> dict:
    """Per-problem metrics and per-benchmark aggregates (see :mod:`nft.eval.metrics`).

    ``benchmarks[b]["headline"]`` is ``avg@n`` (the paper's Table 1 metric) in percent; ``average``
    is the unweighted mean of the headlines, as in Table 1's avg column."""
    by_bench: OrderedDict[str, list[dict]] = OrderedDict()
    problems_out = []
    for r in scored:
        pm = problem_metrics(r["acc"], r["pred"], default_ks(len(r["acc"])))
        entry = {
            "benchmark": r["benchmark"],
            "problem_id": r["problem_id"],
            "data_source": r.get("data_source", r["benchmark"]),
            "ground_truth": r["ground_truth"],
            **pm,
            "acc": r["acc"],
            "pred": r["pred"],
        }
        for extra in ("response_tokens", "truncated", "rows"):
            if extra in r:
                entry[extra] = r[extra]
        problems_out.append(entry)
        by_bench.setdefault(r["benchmark"], []).append(entry)
    benches = OrderedDict()
    for b, plist in by_bench.items():
        agg = aggregate(plist, n_boot=n_boot, seed=seed)
        n = agg["n"]
        info = {"column": table_column(b), "headline_metric": f"avg@{n}", "headline": agg[f"avg@{n}"]["value"],
                "metrics": agg}
        toks = [t for p in plist for t in p.get("response_tokens", [])]
        if toks:
            info["mean_response_tokens"] = sum(toks) / len(toks)
            trunc = [t for p in plist for t in p.get("truncated", [])]
            info["truncated_fraction"] = sum(trunc) / len(trunc)
        benches[b] = info
    average = sum(v["headline"] for v in benches.values()) / len(benches)
    return {"label": label, **(meta or {}), "benchmarks": benches, "average": average, "problems": problems_out}



#: graders ``--grader`` accepts (nft.reward.GRADERS, repeated here so that parsing needs no import)
GRADER_NAMES = ("nft", "authors", "math-verify")


def parse_graders(spec) -> list[str]:
    """``"nft,authors,math-verify"`` (or a list) -> the graders in order, without repeats; a clear
    ``ValueError`` naming ``--grader`` for an unknown or empty one."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for item in items:
        g = str(item).strip().lower().replace("_", "-")
        if not g:
            raise ValueError(f"--grader: empty grader name in {spec!r}; choose from {', '.join(GRADER_NAMES)}")
        if g not in GRADER_NAMES:
            raise ValueError(f"--grader: unknown grader {item!r}; choose from {', '.join(GRADER_NAMES)}")
        if g not in out:
            out.append(g)
    if not out:
        raise ValueError(f"--grader is empty; choose from {', '.join(GRADER_NAMES)}")
    return out


def render_grader_table(results: dict[str, dict]) -> str:
    """Markdown table, one row per benchmark (and the average), one column per grader, cells the
    headline metric (avg@n, percent) of ``results[grader]`` (each from :func:`compute_results`)."""
    graders = list(results)
    first = results[graders[0]]
    lines = ["| benchmark | metric | " + " | ".join(graders) + " |", "|---|---|" + "---|" * len(graders)]
    for b, info in first["benchmarks"].items():
        cells = []
        for g in graders:
            other = results[g]["benchmarks"].get(b)
            cells.append(f"{other['headline']:.1f}" if other is not None else "-")
        lines.append(f"| {info['column']} | {info['headline_metric']} | " + " | ".join(cells) + " |")
    lines.append("| avg | | " + " | ".join(f"{results[g]['average']:.1f}" for g in graders) + " |")
    return "\n".join(lines) + "\n"
