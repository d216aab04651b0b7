"""Entry point: verl 0.9.1's ``main_ppo`` with NFT's start-up checks and trainer extensions.

    python -m nft.main [model=qwen2.5-math-7b] [algo=nft|rft|dapo|grpo|drgrpo] [preset=paper|authors] [key=value ...]

composes ``recipes/config/nft_trainer.yaml`` (``--config-path`` / ``--config-name`` choose another), makes
relative local paths absolute, runs :func:`nft.checks.check` (before Ray starts or a GPU is touched; a
dry run skips only the existence of data and model files) and then, unless ``DRY_RUN=1`` is set, verl's
``run_ppo`` with :func:`task_runner_cls`. A dry run prints the resolved config and
:func:`nft.checks.describe` and exits 0. Config problems print as ``error: ...`` with exit status 2.

The run's processes learn that they run under nft.main from :data:`nft.config.ENTRY_POINT_ENV`, set here
in this process (inherited by a local Ray cluster) and in the Ray runtime env (``ray_kwargs.ray_init.
runtime_env.env_vars``, merged by ``verl/trainer/main_ppo.py::run_ppo`` into ``ray.init``; an existing
cluster's workers get it from there); the NFT estimator refuses to run without it.
"""

from __future__ import annotations

import os
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from nft.config import ENTRY_POINT_ENV  # also fills Hydra's ConfigStore with the NFT policy-loss node

TRUE = ("1", "true", "yes", "on")
#: keys whose relative local paths are made absolute against the working directory (Ray workers run elsewhere)
PATH_KEYS = ("data.train_files", "data.val_files", "actor_rollout_ref.model.path", "trainer.default_local_dir")


def is_dry_run() -> bool:
    return os.environ.get("DRY_RUN", "0").strip().lower() in TRUE


def absolute_paths(cfg: DictConfig) -> None:
    """Relative local paths of :data:`PATH_KEYS` -> absolute (a model path must look local: ``./models/x``, not
    a Hub id ``Qwen/Qwen2.5-Math-7B``)."""
    from nft.checks import looks_local

    for key in PATH_KEYS:
        value = OmegaConf.select(cfg, key, default=None)
        values = [value] if isinstance(value, str) else list(value) if OmegaConf.is_list(value) else []
        fixed = [os.path.abspath(os.path.expanduser(v)) if v and "://" not in v and (key != PATH_KEYS[2] or looks_local(v))
                 else v for v in map(str, values)]
        if fixed != values:
            OmegaConf.update(cfg, key, fixed[0] if isinstance(value, str) else fixed)


def task_runner_cls():
    """verl's ``TaskRunnerV1`` with the trainer class from :func:`nft.trainer.nft_trainer_cls`.

    verl 0.9.1 has a trainer registry (``verl/trainer/ppo/v1/trainer_base.py::register_trainer`` /
    ``get_trainer_cls``), but it is keyed by ``trainer.v1.trainer_mode`` and verl branches on that same
    string, so registering our class under a new mode name would change verl's behaviour, and a name
    cannot be re-registered. No other hook selects the trainer class, so ``run`` below re-states verl's
    ``TaskRunnerV1.run`` (verl/trainer/main_ppo.py) statement for statement, with two changes: the trainer
    class comes from ``nft_trainer_cls`` and the TaskRunner process imports ``nft.register``.
    tests/test_main_startup.py compares it with the installed verl's source (AST) and fails when it changes.
    """
    from pprint import pprint

    import ray
    from verl.trainer.main_ppo import TaskRunnerV1
    from verl.utils.logging_utils import configure_verl_logging

    class NFTTaskRunner(TaskRunnerV1.__ray_actor_class__):  # the plain class under verl's @ray.remote
        """verl's TaskRunnerV1.run with the trainer class from nft.trainer (verl/trainer/main_ppo.py)."""

        def run(self, config: DictConfig):
            """Run the PPO training process."""
            configure_verl_logging()

            import transfer_queue as tq

            import nft.register  # noqa: F401  (the TaskRunner process computes the advantages)
            from nft.trainer import nft_trainer_cls

            trainer_cls = nft_trainer_cls(config.trainer.v1.trainer_mode)

            config.transfer_queue.enable = True
            pprint(OmegaConf.to_container(config, resolve=True))
            OmegaConf.resolve(config)
            self.config = config

            # initialize transfer queue
            tq.init(config.transfer_queue)
            succeeded = False
            try:
                self.trainer = trainer_cls(config=config)
                self.trainer.init()
                self.init_agent_loop_manager()
                self.trainer.fit(self.agent_loop_manager)
                succeeded = True
            finally:
                try:
                    tracking = getattr(self.trainer, "logger", None)
                    if tracking is not None:
                        tracking.finish(exit_code=0 if succeeded else 1)
                finally:
                    tq.close()

    return ray.remote(NFTTaskRunner)


def run(cfg: DictConfig) -> None:
    from verl.utils.device import auto_set_device

    from nft.checks import check, describe

    absolute_paths(cfg)
    auto_set_device(cfg)
    check(cfg, check_paths=not is_dry_run())
    if is_dry_run():
        print(OmegaConf.to_yaml(cfg, resolve=True))
        print("=" * 80)
        print(describe(cfg))
        print("DRY_RUN: config composed and validated; Ray not started.")
        return
    from verl.trainer import main_ppo

    os.environ[ENTRY_POINT_ENV] = "nft.main"
    OmegaConf.update(cfg, f"ray_kwargs.ray_init.runtime_env.env_vars.{ENTRY_POINT_ENV}", "nft.main", force_add=True)
    main_ppo.run_ppo(cfg, task_runner_class=task_runner_cls())


@hydra.main(config_path="../recipes/config", config_name="nft_trainer", version_base=None)
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
