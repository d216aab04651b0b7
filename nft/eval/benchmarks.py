"""Benchmark files -> :class:`Problem` lists.

Two input formats:

- JSONL, one ``{"problem": str, "answer": str}`` object per line (the six Qwen-math-style benchmark
  files). The prompt is one user message holding ``problem`` verbatim (it already ends with the
  ``\\boxed{}`` instruction). The benchmark name is the file stem.
- verl RL parquet: ``prompt`` (chat list of ``{"role", "content"}``), ``data_source``,
  ``reward_model`` (struct with ``ground_truth``; a flat ``reward_model.ground_truth`` column is
  accepted too). The benchmark of each row is its ``data_source``. Rows whose (data_source, prompt,
  ground truth) are identical are one problem (the authors' AIME/AMC files repeat each problem
  32 times to get avg@32 with one sample per row).

A problem's id is a content hash of (benchmark, prompt, ground truth), so ids survive re-ordering and
key the resume caches.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "BENCHMARKS",
    "Problem",
    "canonical_benchmark",
    "default_num_samples",
    "load_benchmark_file",
    "resolve_benchmarks",
    "table_column",
    "to_plain",
]


@dataclass(frozen=True)
class BenchmarkInfo:
    name: str  # canonical name
    column: str  # column of the paper's Table 1
    n_samples: int  # the paper's k for avg@k
    aliases: tuple[str, ...]


# Paper Table 1 column order; k = 32 for AIME24/AIME25/AMC23, 1 for the rest.
BENCHMARKS: dict[str, BenchmarkInfo] = {
    b.name: b
    for b in [
        BenchmarkInfo("aime24", "AIME24", 32, ("aime24", "aime2024")),
        BenchmarkInfo("math500", "MATH500", 1, ("math500",)),
        BenchmarkInfo("aime25", "AIME25", 32, ("aime25", "aime2025")),
        BenchmarkInfo("amc23", "AMC23", 32, ("amc23", "amc2023", "amc")),
        BenchmarkInfo("olympiadbench", "Olympiad", 1, ("olympiadbench", "olympiad")),
        BenchmarkInfo("minerva", "Minerva", 1, ("minervamath", "minerva")),
    ]
}


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def canonical_benchmark(name: str) -> str:
    """Map a file stem or ``data_source`` to a canonical benchmark name (``aime24``, ``math500``,
    ``aime25``, ``amc23``, ``olympiadbench``, ``minerva``); anything else is returned unchanged."""
    sq = _squash(name)
    for info in BENCHMARKS.values():
        for alias in info.aliases:
            if alias in sq:
                return info.name
    return name


def table_column(benchmark: str) -> str:
    info = BENCHMARKS.get(benchmark)
    return info.column if info else benchmark


def default_num_samples(benchmark: str) -> int:
    info = BENCHMARKS.get(benchmark)
    return info.n_samples if info else 1


@dataclass
class Problem:
    benchmark: str
    problem_id: str
    prompt: list[dict]  # chat messages
    ground_truth: str
    source: str  # "file:row" of the first occurrence
    data_source: str = ""
    rows: list[int] = field(default_factory=list)  # all rows of the input file with this problem


def to_plain(x: Any) -> Any:
    """numpy arrays / scalars from parquet round-trips -> plain Python lists / scalars."""
    if isinstance(x, np.ndarray):
        return [to_plain(v) for v in x.tolist()]
    if isinstance(x, (list, tuple)):
        return [to_plain(v) for v in x]
    if isinstance(x, dict):
        return {k: to_plain(v) for k, v in x.items()}
    if isinstance(x, np.generic):
        return x.item()
    return x


def problem_id(benchmark: str, prompt: list[dict], ground_truth: str) -> str:
    blob = json.dumps([benchmark, prompt, ground_truth], sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(blob.encode("utf-8")).hexdigest()[:16]


def _answer_str(value: Any, where: str) -> str:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{where}: answer must be a string or number, got {value!r}")
    if isinstance(value, (int, float, np.integer, np.floating)):
        return str(to_plain(value))
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(f"{where}: empty answer")
        return value
    raise ValueError(f"{where}: answer must be a string or number, got {type(value).__name__}")


def load_jsonl(path: str, benchmark: str | None = None) -> list[Problem]:
    bench = canonical_benchmark(benchmark or os.path.splitext(os.path.basename(path))[0])
    problems: dict[str, Problem] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            where = f"{path}:{lineno}"
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{where}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{where}: expected a JSON object with 'problem' and 'answer'")
            for col in ("problem", "answer"):
                if col not in obj:
                    raise ValueError(f"{where}: missing field '{col}'")
            if not isinstance(obj["problem"], str) or not obj["problem"].strip():
                raise ValueError(f"{where}: field 'problem' must be a non-empty string")
            gt = _answer_str(obj["answer"], f"{where}: field 'answer'")
            prompt = [{"role": "user", "content": obj["problem"]}]
            pid = problem_id(bench, prompt, gt)
            if pid in problems:
                problems[pid].rows.append(lineno)
                continue
            problems[pid] = Problem(bench, pid, prompt, gt, where, data_source=bench, rows=[lineno])
    if not problems:
        raise ValueError(f"{path}: no problems")
    return list(problems.values())


def _check_prompt(prompt: Any, where: str) -> list[dict]:
    prompt = to_plain(prompt)
    if isinstance(prompt, str):
        if not prompt.strip():
            raise ValueError(f"{where} is empty")
        return [{"role": "user", "content": prompt}]
    if not isinstance(prompt, list) or not prompt:
        raise ValueError(f"{where} must be a non-empty chat list of {{'role', 'content'}} messages")
    for i, m in enumerate(prompt):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise ValueError(f"{where}[{i}] must be a dict with string 'role' and 'content', got {m!r}")
    return [{"role": m["role"], "content": m["content"]} for m in prompt]


def ground_truth_column(df, path: str) -> list[Any]:
    """``reward_model.ground_truth`` from a struct column or a flat column of that name."""
    if "reward_model" in df.columns:
        out = []
        for i, rm in enumerate(df["reward_model"].tolist()):
            rm = to_plain(rm)
            if not isinstance(rm, dict) or "ground_truth" not in rm:
                raise ValueError(f"{path}: row {i}: column 'reward_model' has no 'ground_truth' ({rm!r:.80})")
            out.append(rm["ground_truth"])
        return out
    for col in ("reward_model.ground_truth", "ground_truth"):
        if col in df.columns:
            return df[col].tolist()
    raise ValueError(
        f"{path}: missing column 'reward_model' (struct with 'ground_truth') or 'reward_model.ground_truth'; "
        f"columns are {list(df.columns)}"
    )


def load_parquet(path: str, benchmark: str | None = None, require_prompt: bool = True) -> list[Problem]:
    import pandas as pd

    df = pd.read_parquet(path)
    if "data_source" not in df.columns and benchmark is None:
        raise ValueError(f"{path}: missing column 'data_source'; columns are {list(df.columns)}")
    if require_prompt and "prompt" not in df.columns:
        raise ValueError(f"{path}: missing column 'prompt' (chat list); columns are {list(df.columns)}")
    gts = ground_truth_column(df, path)
    sources = df["data_source"].tolist() if "data_source" in df.columns else [benchmark] * len(df)
    prompts = df["prompt"].tolist() if "prompt" in df.columns else [None] * len(df)
    problems: dict[str, Problem] = {}
    for i in range(len(df)):
        where = f"{path}: row {i}"
        ds = sources[i]
        if not isinstance(ds, str) or not ds:
            raise ValueError(f"{where}: column 'data_source' must be a non-empty string, got {ds!r}")
        gt = _answer_str(to_plain(gts[i]), f"{where}: column 'reward_model.ground_truth'")
        if prompts[i] is None:
            if require_prompt:
                raise ValueError(f"{where}: column 'prompt' is null")
            prompt = [{"role": "user", "content": f"<row {i}>"}]  # no prompt: the row is its own problem
        else:
            prompt = _check_prompt(prompts[i], f"{where}: column 'prompt'")
        bench = canonical_benchmark(benchmark or ds)
        pid = problem_id(bench, prompt, gt)
        if pid in problems:
            problems[pid].rows.append(i)
            continue
        problems[pid] = Problem(bench, pid, prompt, gt, where, data_source=ds, rows=[i])
    if not problems:
        raise ValueError(f"{path}: no rows")
    return list(problems.values())


def load_benchmark_file(path: str, benchmark: str | None = None) -> list[Problem]:
    if path.endswith(".jsonl") or path.endswith(".json"):
        return load_jsonl(path, benchmark)
    if path.endswith(".parquet"):
        return load_parquet(path, benchmark)
    raise ValueError(f"{path}: unknown benchmark format (expected .jsonl or .parquet)")


def _find_in_dir(data_dir: str, name: str) -> str:
    canon = canonical_benchmark(name)
    candidates = sorted(glob.glob(os.path.join(data_dir, "*.jsonl")) + glob.glob(os.path.join(data_dir, "*.parquet")))
    exact = [p for p in candidates if os.path.splitext(os.path.basename(p))[0] == name]
    if exact:
        return exact[0]
    matches = [p for p in candidates if canonical_benchmark(os.path.splitext(os.path.basename(p))[0]) == canon]
    if not matches:
        raise FileNotFoundError(
            f"benchmark '{name}': no .jsonl or .parquet file for it in '{data_dir}' "
            f"(files there: {[os.path.basename(p) for p in candidates] or 'none'}); "
            f"pass --data-dir or a file path"
        )
    # prefer verl parquet (download_data.sh converts the authors' presorted files, with their prompts),
    # then the shortest name
    matches.sort(key=lambda p: (not p.endswith(".parquet"), len(os.path.basename(p))))
    return matches[0]


def resolve_benchmarks(specs: list[str], data_dir: str) -> list[tuple[str, str]]:
    """Each spec is a file path (.jsonl/.parquet) or a benchmark name looked up in ``data_dir``.
    Returns ``(benchmark_name_or_None, path)`` pairs."""
    out = []
    for spec in specs:
        if os.path.exists(spec) and os.path.isfile(spec):
            out.append((None, spec))
        else:
            out.append((canonical_benchmark(spec), _find_in_dir(data_dir, spec)))
    return out
