"""Start-up checks of a composed config: one list of check functions, one lookup, one error format.

``python -m nft.main`` runs :func:`check` in the driver before Ray starts (with and without ``DRY_RUN=1``).
Each check takes the composed config and returns its problems, every one naming the keys and what to
set; :func:`check` raises one :class:`ConfigError` listing them all. Each guards something verl 0.9.1
would accept and get wrong silently, or refuse only minutes into a run. A platform adapter adds its own
checks with :func:`register_check` (the CPU platform does, for its checkpoint engine).

Order: the plugin modules are imported first (later checks need the ``nft`` registrations), then the
checks of :data:`CHECKS` and the registered ones, then verl's own ``verl.utils.config.validate_config``
(the call ``verl.trainer.main_ppo`` makes). ``check_paths=False`` (a dry run) skips only the existence of
the data files and the local model folder.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

NFT = "nft"
RC = "algorithm.rollout_correction"
CE = "actor_rollout_ref.rollout.checkpoint_engine"
ASYNC_MODES = ("colocate_async", "separate_async")
TRAINER_MODES = ("sync", *ASYNC_MODES)

Check = Callable[[DictConfig], list[str]]


class ConfigError(ValueError):
    """The composed config has problems; ``.problems`` lists them."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid configuration ({len(self.problems)} problem(s)):\n{lines}")


def get(cfg: DictConfig, key: str, default: Any = None) -> Any:
    """``cfg``'s value at the dotted ``key``; ``default`` when missing or null."""
    value = OmegaConf.select(cfg, key, default=default, throw_on_missing=False)
    return default if value is None else value


def _is_null(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.strip().lower() in ("", "null", "none"))


def uses_nft(cfg: DictConfig) -> bool:
    return NFT in (str(get(cfg, "actor_rollout_ref.actor.policy_loss.loss_mode", "")),
                   str(get(cfg, "algorithm.adv_estimator", "")))


# ------------------------------------------------------------------------------------------------ plugins
def plugin_imports(cfg: DictConfig) -> list[str]:
    """Every ``actor_rollout_ref.model.external_lib`` / ``VERL_USE_EXTERNAL_MODULES`` module imports; a run
    that uses the ``nft`` loss or estimator names ``nft.register`` among them, and it registered both.

    verl imports ``external_lib`` in each actor worker (``verl/workers/config/model.py``
    ``HFModelConfig.__post_init__``) and ``VERL_USE_EXTERNAL_MODULES`` at ``import verl``
    (``verl/__init__.py``), where an import error is logged at DEBUG only: a broken install would surface
    minutes later as "unknown loss mode".
    """
    sources = [("actor_rollout_ref.model.external_lib", m) for m in str(get(cfg, "actor_rollout_ref.model.external_lib", "")).split(",")]
    sources += [("VERL_USE_EXTERNAL_MODULES", m) for m in os.environ.get("VERL_USE_EXTERNAL_MODULES", "").split(",")]
    problems, imported = [], []
    for key, module in ((k, m.strip()) for k, m in sources if m.strip()):
        try:
            importlib.import_module(module)
            imported.append(module)
        except BaseException as e:  # noqa: BLE001  (a plugin may raise anything at import)
            where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
            at = f" at {where.filename}:{where.lineno}" if where else ""
            problems.append(f"{key}={module} cannot be imported: {type(e).__name__}: {e}{at}")
    if problems or not uses_nft(cfg):
        return problems
    if "nft.register" not in imported:
        return ["actor_rollout_ref.model.external_lib must name nft.register (or VERL_USE_EXTERNAL_MODULES must): the "
                "Ray workers import those modules, and nothing else registers the 'nft' loss and estimator there."]
    from verl.trainer.ppo import core_algos

    for what, registry in (("policy loss", core_algos.POLICY_LOSS_REGISTRY),
                           ("advantage estimator", core_algos.ADV_ESTIMATOR_REGISTRY)):
        if NFT not in registry:
            problems.append(f"after importing {', '.join(imported)}, verl has no 'nft' {what} registered: check that "
                            "the installed nft is this one")
    return problems


# ------------------------------------------------------------------------------------------------ trainer
def v1_trainer(cfg: DictConfig) -> list[str]:
    if not get(cfg, "trainer.use_v1", True):
        # nft.main runs verl's TaskRunnerV1; verl's main_ppo would take the deprecated legacy path
        # (verl/trainer/main_ppo_v0.py), which has neither the NFT trainer nor filter_groups.
        return ["trainer.use_v1=False: nft.main runs verl's v1 trainer only (the legacy trainer is deprecated in "
                "verl 0.9.1, ignores filter_groups and, in bypass mode, replaces the NFT loss): keep trainer.use_v1=True"]
    if importlib.util.find_spec("transfer_queue") is None:
        # verl/trainer/main_ppo.py::TaskRunnerV1.run imports it inside the Ray task runner, after Ray started
        return ["verl's v1 trainer (trainer.use_v1=True) needs the TransferQueue package, which is not installed: "
                "pip install 'TransferQueue>=0.1.10' (verl's verl-core extra)"]
    mode = str(get(cfg, "trainer.v1.trainer_mode", "sync"))
    if mode not in TRAINER_MODES:
        return [f"trainer.v1.trainer_mode={mode!r} is not one of {', '.join(TRAINER_MODES)}"]
    return []


# ------------------------------------------------------------------------------------------------ NFT
def policy_loss(cfg: DictConfig) -> list[str]:
    """Build ``actor_rollout_ref.actor.policy_loss`` as verl will; its field errors."""
    from hydra.errors import InstantiationException
    from verl.utils.config import omega_conf_to_dataclass

    from nft.config import NFTPolicyLossConfig

    node = get(cfg, "actor_rollout_ref.actor.policy_loss")
    if node is None:
        return ["actor_rollout_ref.actor.policy_loss is missing: compose over recipes/config/nft_trainer.yaml"]
    try:
        built = omega_conf_to_dataclass(node)
    except InstantiationException as exc:  # Hydra wraps the dataclass's ValueError
        return [str(exc.__cause__ or exc)]
    except (ValueError, TypeError) as exc:
        return [str(exc)]
    if built.loss_mode == NFT and not isinstance(built, NFTPolicyLossConfig):
        return ["actor_rollout_ref.actor.policy_loss._target_ must be nft.config.NFTPolicyLossConfig when "
                f"loss_mode=nft (got {node.get('_target_')!r}); the NFT knobs live in that class."]
    return []


def estimator_and_loss(cfg: DictConfig) -> list[str]:
    loss_mode = get(cfg, "actor_rollout_ref.actor.policy_loss.loss_mode", "vanilla")
    estimator = str(get(cfg, "algorithm.adv_estimator", ""))
    if loss_mode == NFT and estimator != NFT:
        return [f"policy_loss.loss_mode=nft needs algorithm.adv_estimator=nft (got {estimator!r}): the loss decodes "
                "(y, r) from the NFT advantages. For a baseline set policy_loss.loss_mode=vanilla."]
    if estimator == NFT and loss_mode != NFT:
        return [f"algorithm.adv_estimator=nft needs actor_rollout_ref.actor.policy_loss.loss_mode=nft (got "
                f"{loss_mode!r}): with another loss the NFT advantages y - r are a Dr.GRPO advantage without its "
                "clip; use algorithm.adv_estimator=grpo for GRPO/Dr.GRPO/DAPO baselines."]
    return []


def binary_verdicts(cfg: DictConfig) -> list[str]:
    """NFT needs a binary verdict per answer from the rule-based verifier, and verl's own ppo_loss."""
    if not uses_nft(cfg):
        return []
    P = []
    if get(cfg, "algorithm.use_kl_in_reward", False):
        P.append("algorithm.use_kl_in_reward=True makes rewards non-binary and breaks the NFT advantage encoding: set "
                 "algorithm.use_kl_in_reward=False (use actor.use_kl_loss for a KL term).")
    if get(cfg, "reward.reward_kwargs.overlong_buffer_cfg.enable", False):
        P.append("reward.reward_kwargs.overlong_buffer_cfg.enable=True (DAPO overlong penalty) makes rewards "
                 "non-binary; NFT treats truncated answers as negatives: set it to False.")
    if get(cfg, "reward.reward_model.enable", False):
        P.append("reward.reward_model.enable=True: a model reward is not a binary verdict; NFT needs the rule-based "
                 "verifier (reward.custom_reward_function.path=pkg://nft.reward). Set reward.reward_model.enable=False.")
    if get(cfg, "distillation.enabled", False):
        P.append("distillation.enabled=True replaces verl's ppo_loss (and so the NFT loss): set distillation.enabled=False.")
    if get(cfg, "custom_reward_function.path", None):
        P.append("custom_reward_function.path is the pre-0.9 key and verl 0.9.1's main_ppo ignores it: use "
                 "reward.custom_reward_function.path / .name instead.")
    return P


def reward_options(cfg: DictConfig) -> list[str]:
    """``reward_kwargs`` that ``nft.reward.compute_score`` refuses, found now instead of in a reward worker."""
    if not str(get(cfg, "reward.custom_reward_function.path", "")).startswith("pkg://nft.reward"):
        return []
    from nft.reward import compute_score

    kwargs = dict(get(cfg, "reward.custom_reward_function.reward_kwargs", None) or {})
    P = []
    try:  # the verifier's own parsing: it raises ValueError naming the option (a configuration error)
        compute_score("check", "\\boxed{1}", "1", None, **kwargs)
    except ValueError as e:
        P.append(f"reward.custom_reward_function.{e}")
    t = kwargs.get("timeout")
    if t is not None and not (isinstance(t, int | float) and not isinstance(t, bool) and t > 0):
        P.append(f"reward.custom_reward_function.reward_kwargs.timeout must be a positive number of seconds, got {t!r}")
    return P


# ------------------------------------------------------------------------------------------------ off-policy
def off_policy(cfg: DictConfig) -> list[str]:
    """Bypass mode, the v1 async trainer modes and rollout correction with NFT (docs/off_policy.md).

    verl 0.9.1 (``verl/`` paths): ``trainer/ppo/v1/trainer_base.py::PPOTrainer._compute_old_log_prob``
    copies ``rollout_log_probs`` into ``old_log_probs`` in bypass mode and leaves ``policy_loss.loss_mode``
    alone, so NFT's ratio becomes π_θ / π_rollout; ``PPOTrainer._compute_advantage`` runs rollout
    correction (``rollout_is`` weights, ``rollout_rs`` masks) only in decoupled mode, when
    ``rollout_log_probs`` is in the batch; the async modes train on answers of older weights.
    """
    if not uses_nft(cfg):
        return []
    P = []
    bypass = bool(get(cfg, f"{RC}.bypass_mode", False))
    rollout_is, rollout_rs = get(cfg, f"{RC}.rollout_is", None), get(cfg, f"{RC}.rollout_rs", None)
    has_is, has_rs = not _is_null(rollout_is), not _is_null(rollout_rs)
    mode = str(get(cfg, "trainer.v1.trainer_mode", "sync"))
    if get(cfg, "async_training", None) is not None:
        P.append("async_training.* is the config of verl.experimental.fully_async_policy, whose trainer skips the NFT "
                 "checks and replaces the NFT loss by 'bypass_mode' (rollout_corr_helper.py::apply_bypass_mode): "
                 "remove async_training and run `python -m nft.main trainer.v1.trainer_mode=separate_async` "
                 "(or colocate_async) instead.")
    if (bypass or has_is or has_rs) and not get(cfg, "actor_rollout_ref.rollout.calculate_log_probs", False):
        what = "bypass_mode=True uses the rollout's log-probs as the old policy's" if bypass else (
            "rollout_is / rollout_rs compare the actor's old log-probs with the rollout's, and verl skips them "
            "without a word when the batch has none (trainer_base.py::PPOTrainer._compute_advantage)")
        P.append(f"{RC}.{what}: set actor_rollout_ref.rollout.calculate_log_probs=True.")
    if bypass and (has_is or has_rs):
        set_keys = ", ".join(k for k, on in ((f"{RC}.rollout_is={rollout_is}", has_is),
                                             (f"{RC}.rollout_rs={rollout_rs}", has_rs)) if on)
        P.append(f"{set_keys} with {RC}.bypass_mode=True would be ignored: verl's v1 trainer computes rollout "
                 "correction only in decoupled mode (trainer_base.py::PPOTrainer._compute_advantage), and in bypass "
                 "mode NFT's ratio is already pi_theta / pi_rollout with its negative clamp as the bound. Set "
                 f"{RC}.rollout_is=null and {RC}.rollout_rs=null, or {RC}.bypass_mode=False to correct with them.")
    # verl/trainer/ppo/rollout_corr_helper.py::compute_rollout_correction_and_rejection_mask computes IS weights
    # only when rollout_is AND rollout_is_threshold are set: with a null threshold nothing is corrected.
    is_threshold = get(cfg, f"{RC}.rollout_is_threshold", None)
    if has_is and _is_null(is_threshold):
        P.append(f"{RC}.rollout_is={rollout_is} with {RC}.rollout_is_threshold=null: verl computes no importance weights "
                 "without a threshold (rollout_corr_helper.py::compute_rollout_correction_and_rejection_mask), so "
                 f"nothing would be corrected. Set {RC}.rollout_is_threshold (e.g. 2.0) or {RC}.rollout_is=null.")
    has_is = has_is and not _is_null(is_threshold)
    if has_rs and _is_null(get(cfg, f"{RC}.rollout_rs_threshold", None)):
        P.append(f"{RC}.rollout_rs={rollout_rs} needs {RC}.rollout_rs_threshold (verl raises mid-run without it, "
                 "rollout_corr_helper.py::compute_rollout_rejection_mask): set it, or rollout_rs=null.")
    if bypass or has_is or has_rs:
        P += full_softmax_logprobs(cfg, "bypass_mode=True" if bypass else "rollout correction")
    loss_type = str(get(cfg, f"{RC}.loss_type", "ppo_clip"))
    if bypass and loss_type != "ppo_clip":
        P.append(f"{RC}.loss_type={loss_type!r} selects the loss of verl's 'bypass_mode' policy loss, which NFT does not "
                 "use (the NFT loss stays in place on the v1 trainer): remove the override (default ppo_clip).")
    if mode in ASYNC_MODES and not bypass and not has_is:
        P.append(f"trainer.v1.trainer_mode={mode} trains on answers sampled by older weights, but without bypass the "
                 "actor recomputes old_log_probs with the current weights, so NFT's ratio is 1 at the first update and "
                 f"the staleness is never corrected. Set {RC}.bypass_mode=True (R = pi_theta / pi_rollout, "
                 f"recommended; also drops the old-log-prob pass) or {RC}.rollout_is=token|sequence.")
    return P


def full_softmax_logprobs(cfg: DictConfig, why: str) -> list[str]:
    """The rollout's log-probs stand in for (bypass) or are compared with (rollout_is / rollout_rs) the
    actor's ``log_softmax(logits / T)`` over the whole vocabulary (verl's engines divide the logits by
    ``rollout.temperature``: workers/engine/fsdp/transformer_impl.py::_scale_logits_by_temperature). vLLM 0.28
    returns that only with ``logprobs_mode=processed_logprobs`` (taken after penalties, temperature, min_p
    and top-k/top-p, renormalised over the kept tokens: vllm/v1/sample/sampler.py::Sampler.forward,
    ops/topk_topp_sampler.py) and nothing truncating or penalising, or ``raw_logprobs`` at T = 1
    (taken before any processing). Greedy (T < 0.01: vLLM clamps to 0.01 or samples greedily) never matches."""
    R = "actor_rollout_ref.rollout"
    mode = str(get(cfg, f"{R}.logprobs_mode", "processed_logprobs"))
    T = get(cfg, f"{R}.temperature", 1.0)
    top_p, top_k = get(cfg, f"{R}.top_p", 1.0), get(cfg, f"{R}.top_k", -1)
    P = []
    head = f"{why} needs the rollout's log-probs of the full softmax at the actor's temperature, but"
    if mode not in ("processed_logprobs", "raw_logprobs"):
        P.append(f"{head} {R}.logprobs_mode={mode} returns logits, not log-probs: set {R}.logprobs_mode=processed_logprobs.")
    elif mode == "raw_logprobs" and float(T) != 1.0:
        P.append(f"{head} {R}.logprobs_mode=raw_logprobs is taken before temperature ({R}.temperature={T}): set "
                 f"{R}.logprobs_mode=processed_logprobs.")
    if float(T) < 0.01:
        P.append(f"{head} {R}.temperature={T} is greedy or below vLLM's minimum 0.01 (the actor divides by T itself): "
                 "sample at a temperature >= 0.01.")
    if float(top_p) != 1.0:
        P.append(f"{head} {R}.top_p={top_p} truncates the distribution the tokens are sampled from (vLLM renormalises "
                 f"over the kept tokens, so R is biased even on-policy): set {R}.top_p=1.0.")
    if int(top_k) > 0:
        P.append(f"{head} {R}.top_k={top_k} truncates the distribution (R biased even on-policy): set {R}.top_k=-1.")
    for key, off in (("min_p", 0.0), ("repetition_penalty", 1.0), ("presence_penalty", 0.0), ("frequency_penalty", 0.0)):
        value = get(cfg, f"{R}.{key}", off)
        if value is not None and float(value) != off:
            P.append(f"{head} {R}.{key}={value} changes the sampling distribution (vLLM applies it before the "
                     f"log-probs it returns): set {R}.{key}={off}.")
    return P


def separate_async(cfg: DictConfig) -> list[str]:
    """What verl asserts in ``PPOTrainerSeparateAsync`` only after Ray and every worker started."""
    if str(get(cfg, "trainer.v1.trainer_mode", "sync")) != "separate_async":
        return []
    P = []
    bs = int(get(cfg, "data.train_batch_size", 0))
    mini = int(get(cfg, "actor_rollout_ref.actor.ppo_mini_batch_size", 0))
    sync_steps = int(get(cfg, "trainer.v1.separate_async.parameter_sync_step", 1))
    if mini and bs != sync_steps * mini:
        P.append(f"trainer.v1.trainer_mode=separate_async needs data.train_batch_size ({bs}) = "
                 f"trainer.v1.separate_async.parameter_sync_step ({sync_steps}) x actor_rollout_ref.actor."
                 f"ppo_mini_batch_size ({mini}) (one weight sync per step, one update per mini-batch): set "
                 f"trainer.v1.separate_async.parameter_sync_step={bs // mini if bs % mini == 0 else '<bs/mini>'}.")
    for key in ("actor_rollout_ref.rollout.nnodes", "actor_rollout_ref.rollout.n_gpus_per_node"):
        if int(get(cfg, key, 0) or 0) <= 0:
            P.append(f"trainer.v1.trainer_mode=separate_async runs the rollout on its own GPUs: set {key} >= 1.")
    if not bool(get(cfg, "actor_rollout_ref.hybrid_engine", True)):
        # trainer_separate_async.py::PPOTrainerSeparateAsync._setup, hybrid_engine=False branch:
        # logger.info(..., flush=True) raises TypeError (logging takes no `flush`), after every worker started
        P.append("actor_rollout_ref.hybrid_engine=False with trainer.v1.trainer_mode=separate_async crashes verl 0.9.1 "
                 "once all workers are up (PPOTrainerSeparateAsync._setup passes flush=True to logger.info: TypeError): "
                 "keep actor_rollout_ref.hybrid_engine=True (the default).")
    if str(get(cfg, f"{CE}.backend", "naive")) == "naive":
        P.append(f"trainer.v1.trainer_mode=separate_async sends weights to a separate rollout and verl refuses the "
                 f"'naive' checkpoint engine there: set {CE}.backend to one for your devices (nccl; nixl, mooncake).")
    return P


# ------------------------------------------------------------------------------------------------ cluster
def parallel_layout(cfg: DictConfig) -> dict:
    """Actor data-parallel layout: n_gpus, model-parallel size per DP rank, dp, sp, tp, pp, cp, strategy."""
    n_gpus = int(get(cfg, "trainer.nnodes", 1)) * int(get(cfg, "trainer.n_gpus_per_node", 1))
    strategy = str(get(cfg, "actor_rollout_ref.actor.strategy", "fsdp"))
    if strategy == "megatron":
        tp, pp, cp = (int(get(cfg, f"actor_rollout_ref.actor.megatron.{k}_parallel_size", 1))
                      for k in ("tensor_model", "pipeline_model", "context"))
        sp = 1
    else:
        tp = pp = cp = 1
        sp = max(int(get(cfg, "actor_rollout_ref.actor.ulysses_sequence_parallel_size", 1)),
                 int(get(cfg, "actor_rollout_ref.actor.fsdp_config.ulysses_sequence_parallel_size", 1)))
    mp = tp * pp * cp * sp
    return dict(n_gpus=n_gpus, strategy=strategy, tp=tp, pp=pp, cp=cp, sp=sp, mp=mp,
                dp=n_gpus // mp if mp and n_gpus % mp == 0 else None)


def batch_layout(cfg: DictConfig) -> list[str]:
    """Train batch x n vs mini-batch x data-parallel ranks, micro-batches, TP/SP/PP vs GPUs."""
    L = parallel_layout(cfg)
    n_gpus, sp, mp, strategy, dp = L["n_gpus"], L["sp"], L["mp"], L["strategy"], L["dp"]
    per_node = int(get(cfg, "trainer.n_gpus_per_node", 1))
    bs = int(get(cfg, "data.train_batch_size", 0))
    n = int(get(cfg, "actor_rollout_ref.rollout.n", 1))
    mini = int(get(cfg, "actor_rollout_ref.actor.ppo_mini_batch_size", 0))
    est = str(get(cfg, "algorithm.adv_estimator", ""))
    if n_gpus <= 0:
        return [f"trainer.nnodes x trainer.n_gpus_per_node = {n_gpus}: both must be >= 1 (NNODES, GPUS_PER_NODE)"]
    if bs <= 0 or mini <= 0:
        return [f"data.train_batch_size ({bs}) and actor_rollout_ref.actor.ppo_mini_batch_size ({mini}) must be >= 1"]
    P = []
    if est in ("nft", "grpo", "rloo", "reinforce_plus_plus_baseline") and n < 2:
        P.append(f"actor_rollout_ref.rollout.n={n}: {est} needs >= 2 answers per prompt (the paper uses 16)")
    if bs % mini:
        P.append(f"data.train_batch_size ({bs}) must be a multiple of actor_rollout_ref.actor.ppo_mini_batch_size ({mini}) "
                 f"prompts: each step makes train_batch_size / ppo_mini_batch_size updates (paper: 512 / 32 = 16)")
    if dp is None:
        what = "tensor x pipeline x context parallel (megatron)" if strategy == "megatron" else "Ulysses SP"
        P.append(f"{n_gpus} GPUs (trainer.nnodes x trainer.n_gpus_per_node) is not a multiple of the actor's {what} size "
                 f"{mp}: change the parallel sizes or the GPU count")
    else:
        if (mini * n) % dp:
            P.append(f"a mini-batch of {mini} prompts x {n} answers = {mini * n} sequences does not split over {dp} "
                     f"data-parallel ranks ({n_gpus} GPUs / model-parallel {mp}): make ppo_mini_batch_size x rollout.n a "
                     f"multiple of {dp}")
        if (bs * n) % dp:
            P.append(f"data.train_batch_size x rollout.n = {bs * n} is not a multiple of {dp} data-parallel ranks")
        if not get(cfg, "actor_rollout_ref.actor.use_dynamic_bsz", False):
            P += _micro_batches(cfg, bs, n, mini, dp)
    if strategy == "megatron" and per_node % L["tp"]:
        P.append(f"actor_rollout_ref.actor.megatron.tensor_model_parallel_size ({L['tp']}) must divide "
                 f"trainer.n_gpus_per_node ({per_node}): tensor parallelism stays inside a node")
    if sp > 1 and per_node % sp:
        P.append(f"Ulysses SP size {sp} must divide trainer.n_gpus_per_node ({per_node})")
    rtp = int(get(cfg, "actor_rollout_ref.rollout.tensor_model_parallel_size", 1))
    if per_node % rtp:
        P.append(f"actor_rollout_ref.rollout.tensor_model_parallel_size ({rtp}) must divide trainer.n_gpus_per_node "
                 f"({per_node}): one vLLM/SGLang replica may not span nodes")
    gmu = float(get(cfg, "actor_rollout_ref.rollout.gpu_memory_utilization", 0.5))
    if not 0 < gmu <= 1:
        P.append(f"actor_rollout_ref.rollout.gpu_memory_utilization={gmu} must be in (0, 1]")
    heads = (_model_config(str(get(cfg, "actor_rollout_ref.model.path", ""))) or {}).get("num_attention_heads")
    if heads and sp > 1 and heads % sp:
        P.append(f"actor_rollout_ref.model.path: num_attention_heads={heads} is not divisible by Ulysses SP size {sp}")
    if heads and heads % rtp:
        P.append(f"actor_rollout_ref.model.path: num_attention_heads={heads} is not divisible by rollout TP {rtp}")
    return P


def _micro_batches(cfg: DictConfig, bs: int, n: int, mini: int, dp: int) -> list[str]:
    micro = get(cfg, "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu", None)
    if micro is None:
        return ["set actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu or actor.use_dynamic_bsz=True"]
    P = []
    if (mini * n) % dp == 0 and ((mini * n) // dp) % int(micro):
        P.append(f"per-rank mini-batch {(mini * n) // dp} sequences is not a multiple of "
                 f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu ({micro})")
    # the actor's old-log-prob pass (skipped in bypass mode) splits its batch into micro-batches of
    # rollout.log_prob_micro_batch_size_per_gpu (verl/workers/engine/utils.py::prepare_micro_batches asserts
    # it, minutes into the run); separate_async runs it once per mini-batch
    # (trainer_separate_async.py::PPOTrainerSeparateAsync._compute_old_log_prob)
    lp_micro = get(cfg, "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu", None)
    per_mini = str(get(cfg, "trainer.v1.trainer_mode", "sync")) == "separate_async"
    lp_batch, what = (mini * n, "mini-batch") if per_mini else (bs * n, "batch")
    if (lp_micro is not None and not get(cfg, f"{RC}.bypass_mode", False) and lp_batch % dp == 0
            and (lp_batch // dp) % int(lp_micro)):
        P.append(f"the old-log-prob pass sees {lp_batch // dp} sequences per rank (a {what} of {lp_batch // n} "
                 f"prompts x {n} answers over {dp} ranks{', once per mini-batch in separate_async' if per_mini else ''}"
                 f"), not a multiple of actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu ({lp_micro}): "
                 f"make it divide {lp_batch // dp}")
    return P


def lengths(cfg: DictConfig) -> list[str]:
    """Token budgets and engine limits against max_prompt_length + max_response_length."""
    plen, rlen = int(get(cfg, "data.max_prompt_length", 0)), int(get(cfg, "data.max_response_length", 0))
    seq, sp = plen + rlen, parallel_layout(cfg)["sp"]
    if seq <= 0:
        return ["data.max_prompt_length and data.max_response_length must be > 0"]
    P = []
    if get(cfg, "actor_rollout_ref.actor.use_dynamic_bsz", False):
        # verl/workers/engine/utils.py: the packing budget is max_token_len_per_gpu x sp_size
        for key in ("actor_rollout_ref.actor.ppo_max_token_len_per_gpu",
                    "actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu"):
            budget = get(cfg, key, None)
            if budget is not None and int(budget) * sp < seq:
                P.append(f"{key}={budget} (x SP {sp}) < max_prompt_length + max_response_length = {plen} + {rlen} = {seq}: "
                         f"one full-length sequence must fit; set it to at least {-(-seq // sp)}")
    mml = get(cfg, "actor_rollout_ref.rollout.max_model_len", None)
    if mml is not None and int(mml) < seq:
        P.append(f"actor_rollout_ref.rollout.max_model_len={mml} < max_prompt_length + max_response_length = {seq}")
    mbt = get(cfg, "actor_rollout_ref.rollout.max_num_batched_tokens", None)
    if mbt is not None and not get(cfg, "actor_rollout_ref.rollout.enable_chunked_prefill", True) and int(mbt) < seq:
        P.append(f"actor_rollout_ref.rollout.max_num_batched_tokens={mbt} < {seq} with enable_chunked_prefill=False: "
                 "raise it or enable chunked prefill")
    return P


def generation_cap(cfg: DictConfig) -> list[str]:
    if not get(cfg, "algorithm.filter_groups.enable", False):
        return []
    P = []
    mode = str(get(cfg, "trainer.v1.trainer_mode", "sync"))
    cap = int(get(cfg, "algorithm.filter_groups.max_num_gen_batches", 0) or 0)
    if cap > 0 and mode != "sync":
        P.append(f"algorithm.filter_groups.max_num_gen_batches={cap} is enforced only with trainer.v1.trainer_mode=sync "
                 f"(got {mode!r}): set max_num_gen_batches=0 for async modes")
    if int(get(cfg, "algorithm.filter_groups.max_inflight_gen_batches", 1) or 0) < 1:
        P.append("algorithm.filter_groups.max_inflight_gen_batches must be >= 1")
    return P


def _model_config(path: str) -> dict | None:
    p = Path(os.path.expanduser(path)) / "config.json"
    try:
        return json.loads(p.read_text()) if p.is_file() else None
    except (OSError, json.JSONDecodeError):
        return None


def looks_local(path: str) -> bool:
    """A path to check on disk (not a Hub id like ``Qwen/Qwen2.5-Math-7B`` and not hdfs://...)."""
    if "://" in path:
        return False
    return path.startswith(("/", ".", "~")) or os.path.exists(path) or not re.fullmatch(r"[\w.-]+/[\w.-]+", path)


def paths(cfg: DictConfig) -> list[str]:
    """The local model folder and data files exist (skipped by a dry run)."""
    P = []
    model = str(get(cfg, "actor_rollout_ref.model.path", ""))
    if model and looks_local(model) and not Path(os.path.expanduser(model)).is_dir():
        P.append(f"actor_rollout_ref.model.path={model} does not exist: run download_model.sh or set MODEL_PATH")
    for key in ("data.train_files", "data.val_files"):
        files = get(cfg, key, None)
        for f in [files] if isinstance(files, str) else list(files or []):
            if "://" not in str(f) and not Path(os.path.expanduser(str(f))).is_file():
                P.append(f"{key}: {f} not found: run download_data.sh or set DATA_DIR / TRAIN_FILE / VAL_FILES")
    return P


CHECKS: list[Check] = [v1_trainer, policy_loss, estimator_and_loss, binary_verdicts, reward_options, off_policy,
                       separate_async, batch_layout, lengths, generation_cap]
#: added by platform adapters (:func:`register_check`)
_REGISTERED: list[Check] = []


def register_check(fn: Check) -> Check:
    """Add ``fn`` to the checks :func:`check` runs (idempotent); usable as a decorator."""
    if fn not in _REGISTERED:
        _REGISTERED.append(fn)
    return fn


def problems(cfg: DictConfig, *, check_paths: bool = True) -> list[str]:
    """Every problem of ``cfg`` (plugin imports first: if they fail, only those)."""
    found = plugin_imports(cfg)
    if found:
        return found
    for fn in [*CHECKS, *_REGISTERED, *([paths] if check_paths else [])]:
        found += fn(cfg)
    return found


def check(cfg: DictConfig, *, check_paths: bool = True) -> None:
    """Raise :class:`ConfigError` listing every problem of ``cfg``, verl's own validation last."""
    found = problems(cfg, check_paths=check_paths)
    if found:
        raise ConfigError(found)
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    try:
        validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    except AssertionError as e:  # verl reports several checks as bare asserts
        raise ConfigError([f"verl's config validation failed: {e}"]) from None


def describe(cfg: DictConfig) -> str:
    """The dry run's summary of a composed config."""
    from nft.trainer import generation_cap_prompts

    L = parallel_layout(cfg)
    bs = int(get(cfg, "data.train_batch_size", 0))
    n = int(get(cfg, "actor_rollout_ref.rollout.n", 1))
    mini = int(get(cfg, "actor_rollout_ref.actor.ppo_mini_batch_size", 1))
    pl = get(cfg, "actor_rollout_ref.actor.policy_loss", {})
    nft = pl.get("loss_mode") == NFT
    rk = "reward.custom_reward_function.reward_kwargs"
    return "\n".join([
        f"algorithm: adv_estimator={get(cfg, 'algorithm.adv_estimator')} loss_mode={pl.get('loss_mode')} "
        + (f"neg_weight={pl.get('neg_weight')} normalize={pl.get('normalize')} " if nft else "")
        + f"loss_agg_mode={get(cfg, 'actor_rollout_ref.actor.loss_agg_mode')}"
        + (f" aggregation=authors (token sum / {pl.get('authors_token_divisor')} / DP size "
           f"{pl.get('authors_dp_size') or str(L['dp']) + ' (this run)'})" if nft and pl.get("aggregation") == "authors" else ""),
        f"GPUs: {L['n_gpus']} ({get(cfg, 'trainer.nnodes')} nodes x {get(cfg, 'trainer.n_gpus_per_node')}), "
        f"actor {L['strategy']} dp={L['dp']} sp={L['sp']} tp={L['tp']} pp={L['pp']} cp={L['cp']}, "
        f"rollout {get(cfg, 'actor_rollout_ref.rollout.name')} tp={get(cfg, 'actor_rollout_ref.rollout.tensor_model_parallel_size')}",
        f"batch: {bs} prompts x {n} answers = {bs * n} sequences/step; mini-batch {mini} x {n} = {mini * n} "
        f"-> {bs // mini if mini else '?'} updates/step, {(mini * n) // L['dp'] if L['dp'] else '?'} sequences per DP rank",
        f"lengths: prompt {get(cfg, 'data.max_prompt_length')} + response {get(cfg, 'data.max_response_length')}",
        f"dynamic sampling: filter_groups={get(cfg, 'algorithm.filter_groups.enable')} "
        f"metric={get(cfg, 'algorithm.filter_groups.metric')} cap={generation_cap_prompts(cfg) or 'none'} prompts/step",
        f"validation: every {get(cfg, 'trainer.test_freq')} steps, before training "
        f"{get(cfg, 'trainer.val_before_train')}, temperature {get(cfg, 'actor_rollout_ref.rollout.val_kwargs.temperature')} "
        f"top_p {get(cfg, 'actor_rollout_ref.rollout.val_kwargs.top_p')} n {get(cfg, 'actor_rollout_ref.rollout.val_kwargs.n')}",
        f"reward: {get(cfg, 'reward.custom_reward_function.path')} grader={get(cfg, rk + '.grader', 'nft')} "
        f"truncated_is_negative={get(cfg, rk + '.truncated_is_negative', True)} manager={get(cfg, 'reward.reward_manager.name')}",
    ])

