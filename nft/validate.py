"""Start-up checks of a composed verl config for NFT, run in the driver before any worker starts.

Each check guards something that verl 0.9.1 would otherwise accept and silently get wrong (see
``nft.objective`` for the advantage encoding these protect). :func:`validate_config` raises one
``ValueError`` listing every problem, each naming the key and what to set.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

NFT = "nft"


def _get(cfg: DictConfig, key: str, default: Any = None) -> Any:
    value = OmegaConf.select(cfg, key, default=default, throw_on_missing=False)
    return default if value is None else value


def _external_modules(cfg: DictConfig) -> list[str]:
    libs = [_get(cfg, "actor_rollout_ref.model.external_lib", "")]
    libs += os.environ.get("VERL_USE_EXTERNAL_MODULES", "").split(",")
    return [m.strip() for m in libs if m and m.strip()]


def _imports_registration(modules: list[str]) -> bool:
    """True when one of ``modules`` is ``nft.register`` or an ``nft.*`` module that imports it."""
    if "nft.register" in modules:
        return True
    for name in modules:
        if name.startswith("nft."):
            try:
                importlib.import_module(name)
            except ImportError:
                continue
            if "nft.register" in sys.modules:
                return True
    return False


def policy_loss_problems(cfg: DictConfig) -> list[str]:
    """Build ``actor_rollout_ref.actor.policy_loss`` as verl will, returning its field errors."""
    from verl.utils.config import omega_conf_to_dataclass

    node = _get(cfg, "actor_rollout_ref.actor.policy_loss")
    if node is None:
        return ["actor_rollout_ref.actor.policy_loss is missing: compose over recipes/config/nft_trainer.yaml"]
    try:
        built = omega_conf_to_dataclass(node)
    except InstantiationException as exc:  # Hydra wraps the dataclass's ValueError
        cause = exc.__cause__ or exc
        return [str(cause)]
    except (ValueError, TypeError) as exc:
        return [str(exc)]
    from nft.config import NFTPolicyLossConfig

    if built.loss_mode == NFT and not isinstance(built, NFTPolicyLossConfig):
        return [
            "actor_rollout_ref.actor.policy_loss._target_ must be nft.config.NFTPolicyLossConfig when "
            f"loss_mode=nft (got {node.get('_target_')!r}); the NFT knobs live in that class."
        ]
    return []


def config_problems(cfg: DictConfig) -> list[str]:
    """Every problem of ``cfg`` for an NFT run (empty when the config is fine)."""
    problems = policy_loss_problems(cfg)
    loss_mode = _get(cfg, "actor_rollout_ref.actor.policy_loss.loss_mode", "vanilla")
    estimator = str(_get(cfg, "algorithm.adv_estimator", ""))
    if loss_mode == NFT and estimator != NFT:
        problems.append(
            f"policy_loss.loss_mode=nft needs algorithm.adv_estimator=nft (got {estimator!r}): the loss decodes "
            "(y, r) from the NFT advantages. For a baseline set policy_loss.loss_mode=vanilla."
        )
    if estimator == NFT and loss_mode != NFT:
        problems.append(
            f"algorithm.adv_estimator=nft needs actor_rollout_ref.actor.policy_loss.loss_mode=nft (got "
            f"{loss_mode!r}): with another loss the NFT advantages y - r are a Dr.GRPO advantage without its "
            "clip; use algorithm.adv_estimator=grpo for GRPO/Dr.GRPO/DAPO baselines."
        )
    if NFT not in (loss_mode, estimator):
        return problems

    if not _imports_registration(_external_modules(cfg)):
        problems.append(
            "actor_rollout_ref.model.external_lib must be nft.register (or VERL_USE_EXTERNAL_MODULES must name "
            "it): otherwise the Ray workers never register the 'nft' loss and estimator."
        )
    if _get(cfg, "algorithm.use_kl_in_reward", False):
        problems.append(
            "algorithm.use_kl_in_reward=True makes rewards non-binary and breaks the NFT advantage encoding: set "
            "algorithm.use_kl_in_reward=False (use actor.use_kl_loss for a KL term)."
        )
    overlong = _get(cfg, "reward.reward_kwargs.overlong_buffer_cfg.enable", False)
    if overlong:
        problems.append(
            "reward.reward_kwargs.overlong_buffer_cfg.enable=True (DAPO overlong penalty) makes rewards "
            "non-binary; NFT treats truncated answers as negatives: set it to False."
        )
    if str(_get(cfg, "reward.custom_reward_function.path", "")).startswith("pkg://nft.reward"):
        from nft.reward import option_problems

        problems.extend(option_problems(_get(cfg, "reward.custom_reward_function.reward_kwargs", None)))
    if _get(cfg, "reward.reward_model.enable", False):
        problems.append(
            "reward.reward_model.enable=True: a model reward is not a binary verdict; NFT needs the rule-based "
            "verifier (reward.custom_reward_function.path=pkg://nft.reward). Set reward.reward_model.enable=False."
        )
    # bypass mode, verl's async trainer modes, rollout correction, experimental entry points
    from nft.offpolicy import offpolicy_problems

    problems.extend(offpolicy_problems(cfg))
    if _get(cfg, "distillation.enabled", False):
        problems.append(
            "distillation.enabled=True replaces verl's ppo_loss (and so the NFT loss): set distillation.enabled=False."
        )
    if _get(cfg, "custom_reward_function.path", None):
        problems.append(
            "custom_reward_function.path is the pre-0.9 key and verl 0.9.1's main_ppo ignores it: use "
            "reward.custom_reward_function.path / .name instead."
        )
    if _get(cfg, "algorithm.filter_groups.enable", False) and not _get(cfg, "trainer.use_v1", True):
        problems.append(
            "algorithm.filter_groups.enable=True is silently ignored by the legacy trainer: keep trainer.use_v1=True "
            "or set algorithm.filter_groups.enable=False."
        )
    return problems


def validate_config(cfg: DictConfig) -> None:
    """Raise ``ValueError`` listing every problem of ``cfg`` for an NFT run; return None when it is fine."""
    problems = config_problems(cfg)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ValueError(f"invalid NFT configuration ({len(problems)} problem(s)):\n{lines}")
