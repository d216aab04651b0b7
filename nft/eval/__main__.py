"""``python -m nft.eval {generate,score,run,table}`` — see docs/evaluation.md.

generate  sample k responses per problem for one or more models (HF folders or verl FSDP checkpoints)
score     verifier + metrics from a verl-style responses parquet (no GPU)
run       generate + score for each model, one Table-1-shaped Markdown table for all of them
table     one table from several results.json files
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

from .benchmarks import BENCHMARKS, default_num_samples, load_benchmark_file, resolve_benchmarks
from .generate import PRESETS, SETTINGS, GenSettings, generate, settings_description, write_responses_parquet
from .model import default_label, resolve_model
from .score import compute_results, load_responses_parquet, parse_graders, render_grader_table, score_records
from .table import load_results, render_table

DEFAULT_BENCHMARKS = ",".join(BENCHMARKS)  # aime24,math500,aime25,amc23,olympiadbench,minerva


def parse_n_samples(spec: str | None):
    """``None``/``paper`` -> paper defaults (32 for AIME24/25, AMC23; 1 otherwise); ``K`` -> K for
    all; ``name=K,...`` -> overrides of the paper defaults."""
    if spec is None or spec == "paper":
        return default_num_samples
    spec = spec.strip()
    if re.fullmatch(r"\d+", spec):
        k = int(spec)
        if k < 1:
            raise ValueError("--n-samples must be >= 1")
        return lambda b: k
    from .benchmarks import canonical_benchmark

    over = {}
    for part in spec.split(","):
        m = re.fullmatch(r"\s*([^=\s]+)\s*=\s*(\d+)\s*", part)
        if not m or int(m.group(2)) < 1:
            raise ValueError(f"--n-samples: cannot parse '{part}' (use K, or name=K,name=K with K >= 1)")
        over[canonical_benchmark(m.group(1))] = int(m.group(2))
    return lambda b: over.get(b, default_num_samples(b))


def _safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "__", label).strip("_") or "model"


def _add_gen_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", action="append", required=True,
                   help="HF folder or verl FSDP checkpoint (global_step_N[/actor]); repeat for several")
    p.add_argument("--label", action="append", default=None, help="row label per --model (default: folder name)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="7B",
                   help="model size whose settings to use (see --settings)")
    p.add_argument("--settings", choices=sorted(SETTINGS), default="paper",
                   help="paper (default): 7B = T 1.0, top-p 0.7, 512+3584 tokens; 32B = T 0.6, top-p 0.7, 2048+14336. "
                        "authors (their eval_local_<size>.sh): 7B = T 1.0, top-p 0.7, 1024+7168; 32B = T 0.6, "
                        "top-p 0.7, 512+3584 (by file name); authors-by-path: the file whose save_path names the "
                        "model (7B = T 0.6, 512+3584; 32B = T 1.0, 1024+7168)")
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-p", type=float)
    p.add_argument("--max-prompt-length", type=int)
    p.add_argument("--max-response-length", type=int)
    p.add_argument("--n-samples", default=None,
                   help="samples per problem: 'paper' (32 for AIME24/25, AMC23; 1 otherwise), K, or name=K,...")
    p.add_argument("--benchmarks", default=DEFAULT_BENCHMARKS,
                   help="comma list of benchmark names (looked up in --data-dir) or .jsonl/.parquet paths")
    p.add_argument("--data-dir", default=os.environ.get("NFT_EVAL_DATA_DIR", "data"),
                   help="folder with the benchmark files (default: $NFT_EVAL_DATA_DIR or ./data)")
    p.add_argument("--limit", type=int, default=None, help="first N problems per benchmark (smoke tests)")
    p.add_argument("--backend", choices=["auto", "vllm", "transformers"], default="auto")
    p.add_argument("--tp", type=int, default=1, help="vLLM tensor parallel size")
    p.add_argument("--gpu-memory-utilization", type=float, default=0.85)
    p.add_argument("--batch-size", type=int, default=8, help="transformers backend: sequences per generate call")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-chat-template", action="store_true", help="feed the prompt text without the chat template")
    p.add_argument("--output", required=True, help="output folder (one subfolder per model)")
    p.add_argument("--no-progress", action="store_true")


def _add_score_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=float, default=None, help="verifier wall-clock bound per response (s)")
    p.add_argument("--num-workers", type=int, default=None, help="verifier processes (default: all cores)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the 95%% intervals")
    p.add_argument("--boot-seed", type=int, default=0)
    p.add_argument("--reference", choices=["none", "7B", "32B", "all"], default="none",
                   help="append the paper's Table 1 rows")
    p.add_argument("--ci", action="store_true", help="show 95%% intervals in the table")


def _settings(a) -> GenSettings:
    base = dict(SETTINGS[getattr(a, "settings", "paper")][a.preset])
    for name in ("temperature", "top_p", "max_prompt_length", "max_response_length"):
        v = getattr(a, name)
        if v is not None:
            base[name] = v
    return GenSettings(**base, seed=a.seed, chat_template=not a.no_chat_template)


def _settings_name(a) -> str:
    """``paper`` / ``authors``, or ``<name> + overrides`` when a command-line option changed one."""
    name = getattr(a, "settings", "paper")
    changed = [f"--{n.replace('_', '-')}" for n in ("temperature", "top_p", "max_prompt_length", "max_response_length")
               if getattr(a, n) is not None]
    return f"{name} + {' '.join(changed)}" if changed else name


def _load_problems(a):
    specs = [s.strip() for s in a.benchmarks.split(",") if s.strip()]
    if not specs:
        raise ValueError("--benchmarks is empty")
    problems, files = [], {}
    for bench, path in resolve_benchmarks(specs, a.data_dir):
        ps = load_benchmark_file(path, bench)
        if a.limit is not None:
            by_b: dict[str, int] = {}
            kept = []
            for p in ps:
                if by_b.get(p.benchmark, 0) < a.limit:
                    kept.append(p)
                    by_b[p.benchmark] = by_b.get(p.benchmark, 0) + 1
            ps = kept
        for p in ps:
            files.setdefault(p.benchmark, path)
        problems.extend(ps)
    return problems, files


def _models(a):
    labels = a.label or []
    if labels and len(labels) != len(a.model):
        raise ValueError(f"{len(a.label)} --label for {len(a.model)} --model: give one label per model or none")
    out = []
    for i, m in enumerate(a.model):
        label = labels[i] if labels else default_label(m)
        out.append((m, label, os.path.join(a.output, _safe(label))))
    if len({o[2] for o in out}) != len(out):
        raise ValueError("two models map to the same output folder: give distinct --label values")
    return out


def _generate_all(a):
    settings = _settings(a)
    nfun = parse_n_samples(a.n_samples)
    problems, files = _load_problems(a)
    print(f"[nft.eval] {len(problems)} problems: " + ", ".join(
        f"{b}={sum(1 for p in problems if p.benchmark == b)}x{nfun(b)}" for b in dict.fromkeys(p.benchmark for p in problems)),
        file=sys.stderr)
    runs = []
    for model, label, out in _models(a):
        hf = resolve_model(model, os.path.join(out, "merged_hf"))
        t0 = time.time()
        recs = generate(problems, nfun, hf, settings, out, backend=a.backend, tensor_parallel_size=a.tp,
                        gpu_memory_utilization=a.gpu_memory_utilization, batch_size=a.batch_size,
                        progress=not a.no_progress)
        write_responses_parquet(recs, os.path.join(out, "responses.parquet"))
        meta = {"model": os.path.abspath(model), "hf_model": os.path.abspath(hf), "settings": settings.__dict__,
                "settings_name": _settings_name(a), "settings_size": a.preset,
                "settings_description": settings_description(_settings_name(a), a.preset, settings),
                "n_samples": {b: nfun(b) for b in files},
                "backends": sorted({r.get("backend", "?") for r in recs}),
                "benchmark_files": {b: os.path.abspath(f) for b, f in files.items()},
                "generation_seconds": round(time.time() - t0, 1)}
        print(f"[nft.eval] {label}: responses in {os.path.join(out, 'responses.parquet')}", file=sys.stderr)
        runs.append((label, out, recs, meta))
    return runs


def _score_and_write(recs, out, label, a, meta) -> dict:
    scored = score_records(recs, out, timeout=a.timeout, num_workers=a.num_workers, progress=not a.no_progress)
    res = compute_results(scored, label=label, n_boot=a.n_boot, seed=a.boot_seed, meta=meta)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1, ensure_ascii=False)
    with open(os.path.join(out, "table.md"), "w", encoding="utf-8") as f:
        f.write(render_table([res], reference=a.reference, with_ci=a.ci))
    return res


def _print_summary(res: dict) -> None:
    for info in res["benchmarks"].values():
        m = info["metrics"]
        n = m["n"]
        lo, hi = m[f"avg@{n}"]["ci95"]
        print(f"  {res['label']:<28} {info['column']:<10} problems={m['num_problems']:<4} avg@{n}={info['headline']:.1f} "
              f"[{lo:.1f}, {hi:.1f}]  pass@{n}={m[f'pass@{n}']['value']:.1f}  maj@{n}={m[f'maj@{n}']['value']:.1f}")


def cmd_generate(a) -> int:
    _generate_all(a)
    return 0


def _settings_note(results: list[dict]) -> str:
    """The generation settings behind the rows (one line per distinct setting)."""
    lines = list(dict.fromkeys(r["settings_description"] for r in results if r.get("settings_description")))
    return ("\n" + "\n".join(lines) + "\n") if lines else ""


def cmd_run(a) -> int:
    results = []
    for label, out, recs, meta in _generate_all(a):
        res = _score_and_write(recs, out, label, a, meta)
        with open(os.path.join(out, "table.md"), "a", encoding="utf-8") as f:
            f.write(_settings_note([res]))
        _print_summary(res)
        results.append(res)
    table = render_table(results, reference=a.reference, with_ci=a.ci) + _settings_note(results)
    with open(os.path.join(a.output, "table.md"), "w", encoding="utf-8") as f:
        f.write(table)
    print(table)
    print(f"[nft.eval] table: {os.path.join(a.output, 'table.md')}", file=sys.stderr)
    return 0


def cmd_score(a) -> int:
    from .benchmarks import canonical_benchmark

    recs = []
    for path in a.responses:
        bench = None
        if a.benchmark_from == "file":
            bench = canonical_benchmark(os.path.splitext(os.path.basename(path))[0])
        recs.extend(load_responses_parquet(path, bench))
    label = a.label
    if label is None:
        label = os.path.splitext(os.path.basename(a.responses[0]))[0] if len(a.responses) == 1 else "responses"
    meta = {"responses_files": [os.path.abspath(p) for p in a.responses]}
    graders = parse_graders(a.grader)
    if graders == ["nft"]:
        res = _score_and_write(recs, a.output, label, a, meta)
    else:  # one results file per grader, the first as results.json/table.md, a grader comparison table
        by_grader = {}
        os.makedirs(a.output, exist_ok=True)
        for g in graders:
            scored = score_records(recs, a.output, timeout=a.timeout, num_workers=a.num_workers,
                                   progress=not a.no_progress, grader=g)
            by_grader[g] = compute_results(scored, label=label, n_boot=a.n_boot, seed=a.boot_seed,
                                           meta={**meta, "grader": g})
            name = "results.json" if g == graders[0] else f"results_{g}.json"
            with open(os.path.join(a.output, name), "w", encoding="utf-8") as f:
                json.dump(by_grader[g], f, indent=1, ensure_ascii=False)
        res = by_grader[graders[0]]
        with open(os.path.join(a.output, "table.md"), "w", encoding="utf-8") as f:
            f.write(render_table([res], reference=a.reference, with_ci=a.ci))
        comparison = render_grader_table(by_grader)
        with open(os.path.join(a.output, "graders.md"), "w", encoding="utf-8") as f:
            f.write(comparison)
        print(comparison)
    _print_summary(res)
    print(render_table([res], reference=a.reference, with_ci=a.ci))
    print(f"[nft.eval] results: {os.path.join(a.output, 'results.json')}", file=sys.stderr)
    return 0


def cmd_table(a) -> int:
    results = [load_results(p) for p in a.results]
    table = render_table(results, reference=a.reference, with_ci=a.ci)
    if a.output:
        with open(a.output, "w", encoding="utf-8") as f:
            f.write(table)
    print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m nft.eval", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="sample responses")
    _add_gen_args(g)
    g.set_defaults(func=cmd_generate)
    r = sub.add_parser("run", help="generate + score + table")
    _add_gen_args(r)
    _add_score_args(r)
    r.set_defaults(func=cmd_run)
    s = sub.add_parser("score", help="metrics from a responses parquet (no GPU)")
    s.add_argument("--responses", required=True, action="append",
                   help="parquet with data_source, reward_model.ground_truth, responses (list of strings); "
                        "repeat for several files (one results row)")
    s.add_argument("--benchmark-from", choices=["data_source", "file"], default="data_source",
                   help="benchmark of a row: its data_source, or the file name (e.g. the authors' "
                        "aime-2024-boxed_w_answer_*.parquet -> aime24)")
    s.add_argument("--output", required=True, help="output folder (results.json, table.md, scores.jsonl)")
    s.add_argument("--label", default=None, help="row label (default: file name)")
    s.add_argument("--no-progress", action="store_true")
    s.add_argument("--grader", default="nft",
                   help="comma-separated graders: nft (default, nft.reward), authors (the NFT authors' training "
                        "reward, routed per data_source), math-verify (plain math-verify over the whole response); "
                        "several give one column per grader in graders.md (results.json/table.md: the first)")
    _add_score_args(s)
    s.set_defaults(func=cmd_score)
    t = sub.add_parser("table", help="one table from several results.json")
    t.add_argument("results", nargs="+")
    t.add_argument("--reference", choices=["none", "7B", "32B", "all"], default="none")
    t.add_argument("--ci", action="store_true")
    t.add_argument("--output", default=None, help="also write the table to this file")
    t.set_defaults(func=cmd_table)
    return ap


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        return a.func(a)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"nft.eval {a.cmd}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
