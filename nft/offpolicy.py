"""Off-policy NFT on verl 0.9.1: bypass mode, the v1 async trainer modes, rollout correction.

What verl 0.9.1 does (read from the wheel; ``verl/`` paths):

* **Bypass mode keeps the NFT loss on the v1 trainer.** ``trainer/ppo/v1/trainer_base.py::
  PPOTrainer._compute_old_log_prob``: with ``algorithm.rollout_correction.bypass_mode=True`` it copies
  ``rollout_log_probs`` into ``old_log_probs`` in TransferQueue and returns; the actor's old-log-prob
  forward pass is skipped and ``policy_loss.loss_mode`` is left alone, so the NFT ratio becomes
  R = π_θ / π_rollout. ``trainer_separate_async.py::PPOTrainerSeparateAsync._compute_old_log_prob``
  delegates to that branch in bypass mode; ``trainer_colocate_async.py`` does not override it.
* **Every other bypass path swaps the loss.** ``trainer/ppo/ray_trainer.py::RayPPOTrainer.fit``
  (legacy trainer, ``trainer.use_v1=False``) and ``experimental/separation/ray_trainer.py::
  SeparateRayPPOTrainer._fit_compute_log_prob`` (the base of ``experimental/one_step_off_policy`` and
  ``experimental/fully_async_policy``, whose yaml files set ``bypass_mode: True``) call
  ``trainer/ppo/rollout_corr_helper.py::apply_bypass_mode``, which sets
  ``policy_loss.loss_mode = "bypass_mode"`` (``core_algos.compute_policy_loss_bypass_mode``: PPO-clip or
  REINFORCE). A run configured for NFT would silently train PPO-clip; those entry points also skip
  ``nft.main``'s checks. :func:`foreign_entry_point_problem` makes the NFT estimator refuse them.
* **Rollout correction in the v1 trainer runs only in decoupled mode.** ``PPOTrainer._compute_advantage``
  calls ``rollout_corr_helper.py::compute_rollout_correction_and_add_to_batch`` only when
  ``rollout_log_probs`` is in the batch and ``bypass_mode`` is False. It writes
  ``rollout_is_weights`` (π_old / π_rollout, truncated or IcePop-masked; ``ppo_loss`` hands them to the
  NFT loss, which multiplies its loss matrix by them) and rewrites ``response_mask`` with the
  rejection-sampling mask (``rollout_rs``) *before* the advantage estimator runs. With bypass on,
  ``rollout_is`` / ``rollout_rs`` would be ignored without a word (only verl's own ``bypass_mode`` loss
  computes them), so :func:`offpolicy_problems` refuses that combination.
* **Async modes.** ``trainer.v1.trainer_mode=colocate_async`` generates the next batch (partial
  rollouts, ``num_warmup_batches`` ahead) while the current one trains; ``separate_async`` runs rollout
  on its own GPUs and makes ``parameter_sync_step`` local updates per step. In decoupled mode the
  actor recomputes ``old_log_probs`` with the *current* weights, so without ``rollout_is`` the samples
  of older policies are trained as if on-policy: refused. With bypass, R = π_θ / π_rollout carries the
  staleness into NFT's ratio, where its negative-term clamp (ε) bounds it.

What r means with rejection sampling (decided here): **the sampled group.** ``rollout_rs`` says an
answer's *gradient* is not trustworthy (its ratio is out of bounds); it does not change the verifier's
verdict. r̂ estimates the sampling policy's correct rate on the prompt, which NFT's implicit negative
policy π⁻ = (π_old − r π⁺)/(1 − r) is built from, so every sampled answer votes, rejected or not; the
rejected answers then get zero loss (their mask is empty). The trainer passes the sampled-group rates
to the estimator through :data:`SAMPLED_GROUP_RATES` (the same numbers it logs as ``nft/r/*``); the
estimator falls back to the kept (non-empty-mask) rows outside the NFT trainer (unit tests).
"""

from __future__ import annotations

import contextvars
import sys
from typing import Any, Mapping

ASYNC_MODES = ("colocate_async", "separate_async")
#: the CPU platform's checkpoint engine for separate_async (nft/local/tcp_checkpoint_engine.py)
TCP_BACKEND, TCP_MODULE = "nft_tcp", "nft.local.tcp_checkpoint_engine"
TRAINER_MODES = ("sync", *ASYNC_MODES)

# {uid: r} of the sampled group (every non-padding answer generated for the prompt), set by
# nft.trainer.NFTTrainerMixin around verl's _compute_advantage; None outside it.
SAMPLED_GROUP_RATES: contextvars.ContextVar[Mapping | None] = contextvars.ContextVar("nft_sampled_group_rates",
                                                                                     default=None)

# Modules whose trainers replace the NFT loss in bypass mode or skip nft.main's checks.
_FOREIGN_TRAINER_MODULES = (
    "verl.experimental.separation.ray_trainer",
    "verl.experimental.one_step_off_policy",
    "verl.experimental.fully_async_policy",
)
_LEGACY_TRAINER_MODULE = "verl.trainer.ppo.ray_trainer"


def _sel(cfg, key: str, default: Any = None) -> Any:
    from omegaconf import OmegaConf

    value = OmegaConf.select(cfg, key, default=default, throw_on_missing=False)
    return default if value is None else value


def _is_null(v) -> bool:
    return v is None or (isinstance(v, str) and v.strip().lower() in ("", "null", "none"))


def offpolicy_problems(cfg) -> list[str]:
    """Start-up problems of an NFT config with bypass mode, async trainer modes or rollout correction."""
    P: list[str] = []
    rc = "algorithm.rollout_correction"
    bypass = bool(_sel(cfg, f"{rc}.bypass_mode", False))
    rollout_is = _sel(cfg, f"{rc}.rollout_is", None)
    rollout_rs = _sel(cfg, f"{rc}.rollout_rs", None)
    has_is, has_rs = not _is_null(rollout_is), not _is_null(rollout_rs)
    use_v1 = bool(_sel(cfg, "trainer.use_v1", True))
    mode = str(_sel(cfg, "trainer.v1.trainer_mode", "sync"))
    log_probs = bool(_sel(cfg, "actor_rollout_ref.rollout.calculate_log_probs", False))

    if _sel(cfg, "async_training", None) is not None:
        P.append(
            "async_training.* is the config of verl.experimental.fully_async_policy, whose trainer skips the NFT "
            "checks and replaces the NFT loss by 'bypass_mode' (rollout_corr_helper.py::apply_bypass_mode): "
            "remove async_training and run `python -m nft.main trainer.v1.trainer_mode=separate_async` "
            "(or colocate_async) instead."
        )
    if use_v1 and mode not in TRAINER_MODES:
        P.append(f"trainer.v1.trainer_mode={mode!r} is not one of {', '.join(TRAINER_MODES)}")
    if bypass and not use_v1:
        P.append(
            f"{rc}.bypass_mode=True on the legacy trainer (trainer.use_v1=False) replaces the NFT loss: "
            "ray_trainer.py::RayPPOTrainer.fit calls apply_bypass_mode, which sets policy_loss.loss_mode="
            "'bypass_mode' (PPO-clip). Set trainer.use_v1=True (the v1 trainer keeps loss_mode=nft) or "
            f"{rc}.bypass_mode=False."
        )
    if (bypass or has_is or has_rs) and not log_probs:
        what = "bypass_mode=True uses the rollout's log-probs as the old policy's" if bypass else (
            "rollout_is / rollout_rs compare the actor's old log-probs with the rollout's, and verl skips them "
            "without a word when the batch has none (trainer_base.py::PPOTrainer._compute_advantage)")
        P.append(f"{rc}.{what}: set actor_rollout_ref.rollout.calculate_log_probs=True.")
    if bypass and (has_is or has_rs):
        set_keys = ", ".join(k for k, on in ((f"{rc}.rollout_is={rollout_is}", has_is),
                                             (f"{rc}.rollout_rs={rollout_rs}", has_rs)) if on)
        P.append(
            f"{set_keys} with {rc}.bypass_mode=True would be ignored: verl's v1 trainer computes rollout "
            "correction only in decoupled mode (trainer_base.py::PPOTrainer._compute_advantage), and in bypass "
            "mode NFT's ratio is already pi_theta / pi_rollout with its negative clamp as the bound. Set "
            f"{rc}.rollout_is=null and {rc}.rollout_rs=null, or {rc}.bypass_mode=False to correct with them."
        )
    loss_type = str(_sel(cfg, f"{rc}.loss_type", "ppo_clip"))
    if bypass and loss_type != "ppo_clip":
        P.append(
            f"{rc}.loss_type={loss_type!r} selects the loss of verl's 'bypass_mode' policy loss, which NFT does not "
            f"use (the NFT loss stays in place on the v1 trainer): remove the override (default ppo_clip)."
        )
    if use_v1 and mode in ASYNC_MODES and not bypass and not has_is:
        P.append(
            f"trainer.v1.trainer_mode={mode} trains on answers sampled by older weights, but without bypass the "
            "actor recomputes old_log_probs with the current weights, so NFT's ratio is 1 at the first update and "
            f"the staleness is never corrected. Set {rc}.bypass_mode=True (R = pi_theta / pi_rollout, "
            f"recommended; also drops the old-log-prob pass) or {rc}.rollout_is=token|sequence."
        )
    ce = "actor_rollout_ref.rollout.checkpoint_engine"
    backend = str(_sel(cfg, f"{ce}.backend", "naive"))
    device = str(_sel(cfg, "trainer.device", "cuda"))
    if use_v1 and mode == "separate_async":
        # verl asserts these in PPOTrainerSeparateAsync.__init__, after Ray and the workers started
        bs = int(_sel(cfg, "data.train_batch_size", 0))
        mini = int(_sel(cfg, "actor_rollout_ref.actor.ppo_mini_batch_size", 0))
        sync_steps = int(_sel(cfg, "trainer.v1.separate_async.parameter_sync_step", 1))
        if mini and bs != sync_steps * mini:
            P.append(
                f"trainer.v1.trainer_mode=separate_async needs data.train_batch_size ({bs}) = "
                f"trainer.v1.separate_async.parameter_sync_step ({sync_steps}) x actor_rollout_ref.actor."
                f"ppo_mini_batch_size ({mini}) (one weight sync per step, one update per mini-batch): set "
                f"trainer.v1.separate_async.parameter_sync_step={bs // mini if bs % mini == 0 else '<bs/mini>'}."
            )
        for key in ("actor_rollout_ref.rollout.nnodes", "actor_rollout_ref.rollout.n_gpus_per_node"):
            if int(_sel(cfg, key, 0) or 0) <= 0:
                P.append(f"trainer.v1.trainer_mode=separate_async runs the rollout on its own GPUs: set {key} >= 1.")
        if not bool(_sel(cfg, "actor_rollout_ref.hybrid_engine", True)):
            # trainer_separate_async.py::PPOTrainerSeparateAsync._setup, hybrid_engine=False branch:
            # logger.info(..., flush=True) raises TypeError (logging takes no `flush`), after every worker started
            P.append(
                "actor_rollout_ref.hybrid_engine=False with trainer.v1.trainer_mode=separate_async crashes verl 0.9.1 "
                "once all workers are up (PPOTrainerSeparateAsync._setup passes flush=True to logger.info: TypeError): "
                "keep actor_rollout_ref.hybrid_engine=True (the default)."
            )
        if backend == "naive":
            P.append(
                "trainer.v1.trainer_mode=separate_async sends weights to a separate rollout: set "
                + (f"{ce}.backend={TCP_BACKEND} {ce}.custom_backend_module={TCP_MODULE} (the CPU platform's "
                   "engine)" if device == "cpu" else f"{ce}.backend=nccl (or nixl, mooncake)")
                + "; verl refuses 'naive'."
            )
    if backend == TCP_BACKEND:
        modules = _sel(cfg, f"{ce}.custom_backend_module", None) or []
        modules = [modules] if isinstance(modules, str) else list(modules)
        if TCP_MODULE not in modules:
            P.append(
                f"{ce}.backend={TCP_BACKEND} is registered by {TCP_MODULE}: set {ce}.custom_backend_module={TCP_MODULE} "
                "(verl imports it in every process before it looks the backend up)."
            )
        if device != "cpu":
            P.append(
                f"{ce}.backend={TCP_BACKEND} is the CPU platform's engine (weights over a TCP socket, through host "
                f"memory); with trainer.device={device} use {ce}.backend=nccl."
            )
    return P


def foreign_entry_point_problem(algorithm_config=None) -> str | None:
    """Why the NFT estimator must not run here, or None.

    Called by the NFT estimator when it is not inside ``nft.trainer.NFTTrainerMixin``: refuses verl's
    experimental trainers (they skip ``nft.main``'s checks and, in bypass mode, swap the loss) and the
    legacy trainer in bypass mode (``apply_bypass_mode`` has already set ``loss_mode='bypass_mode'``).
    """
    callers, functions = set(), set()
    frame = sys._getframe(1)
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        callers.add(module)
        functions.add((module, frame.f_code.co_name))
        frame = frame.f_back
    foreign = sorted(m for m in callers if m.startswith(_FOREIGN_TRAINER_MODULES))
    if foreign:
        return (
            f"the NFT advantage estimator was called from {foreign[0]}: verl's experimental trainers skip the NFT "
            "start-up checks and, with algorithm.rollout_correction.bypass_mode=True (their default), replace the "
            "NFT loss by 'bypass_mode' (PPO-clip) through rollout_corr_helper.py::apply_bypass_mode. Run "
            "`python -m nft.main` with trainer.v1.trainer_mode=colocate_async or separate_async instead."
        )
    bypass = False
    if algorithm_config is not None:
        try:
            bypass = bool((algorithm_config.get("rollout_correction", None) or {}).get("bypass_mode", False))
        except AttributeError:
            bypass = False
    # the legacy loop is RayPPOTrainer.fit; the v1 trainer also passes through this module's
    # compute_advantage (trainer/ppo/v1/utils.py::compute_advantage_for_multi_trajectories calls it)
    if bypass and (_LEGACY_TRAINER_MODULE, "fit") in functions:
        return (
            "algorithm.rollout_correction.bypass_mode=True on the legacy trainer (trainer.use_v1=False): "
            "ray_trainer.py::RayPPOTrainer.fit has replaced the NFT loss by 'bypass_mode' (PPO-clip) through "
            "apply_bypass_mode. Set trainer.use_v1=True and run `python -m nft.main`."
        )
    return None

