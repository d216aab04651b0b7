"""Entry point: verl 0.9.1's ``main_ppo`` flow with NFT start-up checks and trainer extensions.

    python -m nft.main --config-path=<repo>/recipes/config --config-name=nft_trainer [hydra overrides]

Order, all before Ray starts or any GPU is touched, the same with and without ``DRY_RUN=1``:

0. ``trainer.use_v1`` must be True (nft.main runs verl's v1 trainer only), and :func:`plugin_import_problems`:
   every ``actor_rollout_ref.model.external_lib`` / ``VERL_USE_EXTERNAL_MODULES`` module imports (verl
   itself logs a failed import at DEBUG only) and, for an NFT run, the ``nft`` loss and estimator are
   registered afterwards.
1. ``nft.validate.validate_config(cfg)``: NFT-specific config errors (loss/estimator pairing, KL in
   reward, registration import, ...).
2. :func:`recipe_problems`: cluster arithmetic (train batch x n vs mini-batch x data-parallel ranks,
   token budgets vs max lengths, TP/SP/PP vs GPUs, generation cap mode) and, outside a dry run, the
   data files and local model folder exist.
3. verl's own ``verl.utils.config.validate_config`` (the same call ``verl.trainer.main_ppo.main`` makes).

With ``DRY_RUN=1`` in the environment it then prints the resolved config and a summary and exits 0.
Otherwise it runs ``verl.trainer.main_ppo.run_ppo`` with :class:`NFTTaskRunner`, a copy of verl's
``TaskRunnerV1`` whose trainer class is ``nft.trainer.nft_trainer_cls(trainer.v1.trainer_mode)`` (verl's
trainer plus the ``max_num_gen_batches`` cap and the ``nft/`` group statistics), printing
``nft.main: starting training`` before and ``nft.main: training finished`` / ``nft.main: training failed
(...)`` after (``nft.local.progress`` relies on them). The only start-up check a dry run skips is the
existence of the data files and the local model folder. Errors print as ``error: ...`` on stderr with exit
status 2.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

TRUE = ("1", "true", "yes", "on")


def _sel(cfg: DictConfig, key: str, default=None):
    v = OmegaConf.select(cfg, key, default=default, throw_on_missing=False)
    return default if v is None else v


def is_dry_run() -> bool:
    return os.environ.get("DRY_RUN", "0").strip().lower() in TRUE


def _parallel_layout(cfg: DictConfig) -> dict:
    """Actor data-parallel layout: n_gpus, model-parallel size per DP rank, dp, sp, tp, pp, cp, strategy."""
    n_gpus = int(_sel(cfg, "trainer.nnodes", 1)) * int(_sel(cfg, "trainer.n_gpus_per_node", 1))
    strategy = str(_sel(cfg, "actor_rollout_ref.actor.strategy", "fsdp"))
    if strategy == "megatron":
        tp = int(_sel(cfg, "actor_rollout_ref.actor.megatron.tensor_model_parallel_size", 1))
        pp = int(_sel(cfg, "actor_rollout_ref.actor.megatron.pipeline_model_parallel_size", 1))
        cp = int(_sel(cfg, "actor_rollout_ref.actor.megatron.context_parallel_size", 1))
        sp = 1
        mp = tp * pp * cp
    else:
        tp = pp = cp = 1
        sp = max(
            int(_sel(cfg, "actor_rollout_ref.actor.ulysses_sequence_parallel_size", 1)),
            int(_sel(cfg, "actor_rollout_ref.actor.fsdp_config.ulysses_sequence_parallel_size", 1)),
        )
        mp = sp
    return dict(n_gpus=n_gpus, strategy=strategy, tp=tp, pp=pp, cp=cp, sp=sp, mp=mp,
                dp=n_gpus // mp if mp and n_gpus % mp == 0 else None)


def _model_config(path: str) -> dict | None:
    p = Path(os.path.expanduser(path)) / "config.json"
    if p.is_file():
        try:
            return json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            return None
    return None


def _looks_local(path: str) -> bool:
    """A path to check on disk (not a Hub id like ``Qwen/Qwen2.5-Math-7B`` and not hdfs://...)."""
    if "://" in path:
        return False
    return path.startswith(("/", ".", "~")) or os.path.exists(path) or not re.fullmatch(r"[\w.-]+/[\w.-]+", path)


def recipe_problems(cfg: DictConfig, *, check_paths: bool = True) -> list[str]:
    """Cluster arithmetic and path problems of a composed config; each names the keys and what to change."""
    P: list[str] = []
    L = _parallel_layout(cfg)
    n_gpus, sp, mp, strategy = L["n_gpus"], L["sp"], L["mp"], L["strategy"]
    per_node = int(_sel(cfg, "trainer.n_gpus_per_node", 1))
    bs = int(_sel(cfg, "data.train_batch_size", 0))
    n = int(_sel(cfg, "actor_rollout_ref.rollout.n", 1))
    mini = int(_sel(cfg, "actor_rollout_ref.actor.ppo_mini_batch_size", 0))
    plen = int(_sel(cfg, "data.max_prompt_length", 0))
    rlen = int(_sel(cfg, "data.max_response_length", 0))
    seq = plen + rlen
    est = str(_sel(cfg, "algorithm.adv_estimator", ""))

    if n_gpus <= 0:
        P.append(f"trainer.nnodes x trainer.n_gpus_per_node = {n_gpus}: both must be >= 1 (NNODES, GPUS_PER_NODE)")
        return P
    if bs <= 0 or mini <= 0:
        P.append(f"data.train_batch_size ({bs}) and actor_rollout_ref.actor.ppo_mini_batch_size ({mini}) must be >= 1")
        return P
    if est in ("nft", "grpo", "rloo", "reinforce_plus_plus_baseline") and n < 2:
        P.append(f"actor_rollout_ref.rollout.n={n}: {est} needs >= 2 answers per prompt (the paper uses 16)")
    if bs % mini:
        P.append(
            f"data.train_batch_size ({bs}) must be a multiple of actor_rollout_ref.actor.ppo_mini_batch_size ({mini}) "
            f"prompts: each step makes train_batch_size / ppo_mini_batch_size updates (paper: 512 / 32 = 16)"
        )
    if n_gpus % mp:
        what = "tensor x pipeline x context parallel (megatron)" if strategy == "megatron" else "Ulysses SP"
        P.append(
            f"{n_gpus} GPUs (trainer.nnodes x trainer.n_gpus_per_node) is not a multiple of the actor's {what} size "
            f"{mp}: change the parallel sizes or the GPU count"
        )
    else:
        dp = L["dp"]
        if (mini * n) % dp:
            P.append(
                f"a mini-batch of {mini} prompts x {n} answers = {mini * n} sequences does not split over {dp} "
                f"data-parallel ranks ({n_gpus} GPUs / model-parallel {mp}): make ppo_mini_batch_size x rollout.n a "
                f"multiple of {dp}"
            )
        if (bs * n) % dp:
            P.append(f"data.train_batch_size x rollout.n = {bs * n} is not a multiple of {dp} data-parallel ranks")
        if not _sel(cfg, "actor_rollout_ref.actor.use_dynamic_bsz", False):
            micro = _sel(cfg, "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu", None)
            if micro is None:
                P.append("set actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu or actor.use_dynamic_bsz=True")
            elif (mini * n) % dp == 0 and ((mini * n) // dp) % int(micro):
                P.append(
                    f"per-rank mini-batch {(mini * n) // dp} sequences is not a multiple of "
                    f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu ({micro})"
                )
            # the actor's old-log-prob pass (skipped in bypass mode) splits its batch into micro-batches of
            # rollout.log_prob_micro_batch_size_per_gpu (verl/workers/engine/utils.py::prepare_micro_batches
            # asserts it, minutes into the run); separate_async without bypass runs it once per mini-batch
            # (trainer_separate_async.py::PPOTrainerSeparateAsync._compute_old_log_prob)
            lp_micro = _sel(cfg, "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu", None)
            bypass = bool(_sel(cfg, "algorithm.rollout_correction.bypass_mode", False))
            per_mini = str(_sel(cfg, "trainer.v1.trainer_mode", "sync")) == "separate_async"
            lp_batch, what = (mini * n, "mini-batch") if per_mini else (bs * n, "batch")
            if lp_micro is not None and not bypass and lp_batch % dp == 0 and (lp_batch // dp) % int(lp_micro):
                P.append(
                    f"the old-log-prob pass sees {lp_batch // dp} sequences per rank (a {what} of {lp_batch // n} "
                    f"prompts x {n} answers over {dp} ranks{', once per mini-batch in separate_async' if per_mini else ''}"
                    f"), not a multiple of actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu ({lp_micro}): "
                    f"make it divide {lp_batch // dp}"
                )
    if strategy == "megatron" and per_node % L["tp"]:
        P.append(
            f"actor_rollout_ref.actor.megatron.tensor_model_parallel_size ({L['tp']}) must divide trainer.n_gpus_per_node "
            f"({per_node}): tensor parallelism stays inside a node"
        )
    if sp > 1 and per_node % sp:
        P.append(f"Ulysses SP size {sp} must divide trainer.n_gpus_per_node ({per_node})")

    rtp = int(_sel(cfg, "actor_rollout_ref.rollout.tensor_model_parallel_size", 1))
    if per_node % rtp:
        P.append(
            f"actor_rollout_ref.rollout.tensor_model_parallel_size ({rtp}) must divide trainer.n_gpus_per_node "
            f"({per_node}) (ROLLOUT_TP): one vLLM/SGLang replica may not span nodes"
        )
    gmu = float(_sel(cfg, "actor_rollout_ref.rollout.gpu_memory_utilization", 0.5))
    if not 0 < gmu <= 1:
        P.append(f"actor_rollout_ref.rollout.gpu_memory_utilization={gmu} must be in (0, 1]")

    if seq <= 0:
        P.append("data.max_prompt_length and data.max_response_length must be > 0")
    else:
        if _sel(cfg, "actor_rollout_ref.actor.use_dynamic_bsz", False):
            # verl/workers/engine/utils.py: the packing budget is max_token_len_per_gpu x sp_size
            for key in (
                "actor_rollout_ref.actor.ppo_max_token_len_per_gpu",
                "actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu",
            ):
                budget = _sel(cfg, key, None)
                if budget is not None and int(budget) * sp < seq:
                    P.append(
                        f"{key}={budget} (x SP {sp}) < max_prompt_length + max_response_length = {plen} + {rlen} = {seq}: "
                        f"one full-length sequence must fit; set it to at least {-(-seq // sp)}"
                    )
        mml = _sel(cfg, "actor_rollout_ref.rollout.max_model_len", None)
        if mml is not None and int(mml) < seq:
            P.append(f"actor_rollout_ref.rollout.max_model_len={mml} < max_prompt_length + max_response_length = {seq}")
        mbt = _sel(cfg, "actor_rollout_ref.rollout.max_num_batched_tokens", None)
        if mbt is not None and not _sel(cfg, "actor_rollout_ref.rollout.enable_chunked_prefill", True) and int(mbt) < seq:
            P.append(
                f"actor_rollout_ref.rollout.max_num_batched_tokens={mbt} < {seq} with enable_chunked_prefill=False: "
                "raise it or enable chunked prefill"
            )

    fg_enable = bool(_sel(cfg, "algorithm.filter_groups.enable", False))
    if fg_enable:
        mode = str(_sel(cfg, "trainer.v1.trainer_mode", "sync"))
        cap = int(_sel(cfg, "algorithm.filter_groups.max_num_gen_batches", 0) or 0)
        if cap > 0 and mode != "sync":
            P.append(
                f"algorithm.filter_groups.max_num_gen_batches={cap} is enforced only with trainer.v1.trainer_mode=sync "
                f"(got {mode!r}): set max_num_gen_batches=0 for async modes"
            )
        if int(_sel(cfg, "algorithm.filter_groups.max_inflight_gen_batches", 1) or 0) < 1:
            P.append("algorithm.filter_groups.max_inflight_gen_batches must be >= 1")

    model = str(_sel(cfg, "actor_rollout_ref.model.path", ""))
    mc = _model_config(model) if model else None
    if mc:
        heads = mc.get("num_attention_heads")
        if heads and sp > 1 and heads % sp:
            P.append(f"{model}: num_attention_heads={heads} is not divisible by Ulysses SP size {sp}")
        if heads and heads % rtp:
            P.append(f"{model}: num_attention_heads={heads} is not divisible by rollout TP {rtp}")

    if check_paths:
        if model and _looks_local(model) and not Path(os.path.expanduser(model)).is_dir():
            P.append(f"actor_rollout_ref.model.path={model} does not exist: run download_model.sh or set MODEL_PATH")
        for key in ("data.train_files", "data.val_files"):
            files = _sel(cfg, key, None)
            files = [files] if isinstance(files, str) else list(files or [])
            for f in files:
                f = str(f)
                if "://" not in f and not Path(os.path.expanduser(f)).is_file():
                    P.append(f"{key}: {f} not found: run download_data.sh or set DATA_DIR / TRAIN_FILE / VAL_FILES")
    return P


def summary(cfg: DictConfig) -> str:
    L = _parallel_layout(cfg)
    bs = int(_sel(cfg, "data.train_batch_size", 0))
    n = int(_sel(cfg, "actor_rollout_ref.rollout.n", 1))
    mini = int(_sel(cfg, "actor_rollout_ref.actor.ppo_mini_batch_size", 1))
    pl = _sel(cfg, "actor_rollout_ref.actor.policy_loss", {})
    from nft.trainer import generation_cap_prompts

    lines = [
        f"algorithm: adv_estimator={_sel(cfg, 'algorithm.adv_estimator')} loss_mode={pl.get('loss_mode')} "
        + (f"neg_weight={pl.get('neg_weight')} normalize={pl.get('normalize')} " if pl.get("loss_mode") == "nft" else "")
        + f"loss_agg_mode={_sel(cfg, 'actor_rollout_ref.actor.loss_agg_mode')}"
        + (f" aggregation=authors (token sum / {pl.get('authors_token_divisor', 1000.0)} / DP size "
           f"{pl.get('authors_dp_size') or str(L['dp']) + ' (this run)'})"
           if pl.get("loss_mode") == "nft" and pl.get("aggregation") == "authors" else ""),
        f"GPUs: {L['n_gpus']} ({_sel(cfg, 'trainer.nnodes')} nodes x {_sel(cfg, 'trainer.n_gpus_per_node')}), "
        f"actor {L['strategy']} dp={L['dp']} sp={L['sp']} tp={L['tp']} pp={L['pp']} cp={L['cp']}, "
        f"rollout {_sel(cfg, 'actor_rollout_ref.rollout.name')} tp={_sel(cfg, 'actor_rollout_ref.rollout.tensor_model_parallel_size')}",
        f"batch: {bs} prompts x {n} answers = {bs * n} sequences/step; mini-batch {mini} x {n} = {mini * n} "
        f"-> {bs // mini if mini else '?'} updates/step, {(mini * n) // L['dp'] if L['dp'] else '?'} sequences per DP rank",
        f"lengths: prompt {_sel(cfg, 'data.max_prompt_length')} + response {_sel(cfg, 'data.max_response_length')}",
        f"dynamic sampling: filter_groups={_sel(cfg, 'algorithm.filter_groups.enable')} "
        f"metric={_sel(cfg, 'algorithm.filter_groups.metric')} cap={generation_cap_prompts(cfg) or 'none'} prompts/step",
        f"validation: every {_sel(cfg, 'trainer.test_freq')} steps, before training "
        f"{_sel(cfg, 'trainer.val_before_train')}, temperature {_sel(cfg, 'actor_rollout_ref.rollout.val_kwargs.temperature')} "
        f"top_p {_sel(cfg, 'actor_rollout_ref.rollout.val_kwargs.top_p')} n {_sel(cfg, 'actor_rollout_ref.rollout.val_kwargs.n')}",
        f"reward: {_sel(cfg, 'reward.custom_reward_function.path')} grader="
        f"{_sel(cfg, 'reward.custom_reward_function.reward_kwargs.grader', 'nft')} "
        f"truncated_is_negative={_sel(cfg, 'reward.custom_reward_function.reward_kwargs.truncated_is_negative', True)} "
        f"manager={_sel(cfg, 'reward.reward_manager.name')}",
    ]
    return "\n".join(lines)


def plugin_import_problems(cfg: DictConfig) -> list[str]:
    """Import every plugin module verl will import and check the ``nft`` loss/estimator are registered.

    verl imports ``actor_rollout_ref.model.external_lib`` in each worker (``verl/workers/config/model.py``
    ``HFModelConfig.__post_init__``) and ``VERL_USE_EXTERNAL_MODULES`` at ``import verl``
    (``verl/__init__.py``), where an import error is logged at DEBUG only; a broken install would only
    surface later as "unknown loss mode". Here each failure names the key and the module.
    """
    import importlib
    import traceback

    sources = []
    lib = _sel(cfg, "actor_rollout_ref.model.external_lib", None)
    if lib:
        sources += [("actor_rollout_ref.model.external_lib", m.strip()) for m in str(lib).split(",") if m.strip()]
    env = os.environ.get("VERL_USE_EXTERNAL_MODULES", "")
    sources += [("VERL_USE_EXTERNAL_MODULES", m.strip()) for m in env.split(",") if m.strip()]
    P = []
    imported = []
    for key, module in sources:
        try:
            importlib.import_module(module)
            imported.append(module)
        except BaseException as e:  # noqa: BLE001  (a plugin may raise anything at import)
            where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
            at = f" at {where.filename}:{where.lineno}" if where else ""
            P.append(f"{key}={module} cannot be imported: {type(e).__name__}: {e}{at}")
    if P:
        return P
    uses_nft = "nft" in (str(_sel(cfg, "actor_rollout_ref.actor.policy_loss.loss_mode", "")),
                         str(_sel(cfg, "algorithm.adv_estimator", "")))
    if uses_nft:
        from verl.trainer.ppo import core_algos

        after = f"after importing {', '.join(imported)}" if imported else "with no plugin module configured"
        if "nft" not in core_algos.POLICY_LOSS_REGISTRY:
            P.append(f"{after}, verl has no 'nft' policy loss registered: set actor_rollout_ref.model.external_lib="
                     "nft.register (or a module that imports it) and check that the installed nft is this one")
        if "nft" not in core_algos.ADV_ESTIMATOR_REGISTRY:
            P.append(f"{after}, verl has no 'nft' advantage estimator registered: set "
                     "actor_rollout_ref.model.external_lib=nft.register")
    return P


def check(cfg: DictConfig, *, dry_run: bool) -> None:
    """All start-up checks; raises ValueError listing the problems."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config as verl_validate_config

    from nft.validate import validate_config

    if not _sel(cfg, "trainer.use_v1", True):
        # nft.main runs NFTTaskRunner (verl's TaskRunnerV1); verl's main_ppo would take the deprecated
        # legacy path (verl/trainer/main_ppo_v0.py), which has neither the NFT trainer nor filter_groups.
        raise ValueError(
            "trainer.use_v1=False: nft.main runs verl's v1 trainer only (the legacy trainer is deprecated "
            "in verl 0.9.1 and ignores filter_groups): keep trainer.use_v1=True"
        )
    import importlib.util

    if importlib.util.find_spec("transfer_queue") is None:
        # verl/trainer/main_ppo.py::TaskRunnerV1.run imports it inside the Ray task runner, after Ray started
        raise ValueError(
            "verl's v1 trainer (trainer.use_v1=True) needs the TransferQueue package, which is not installed: "
            "pip install 'TransferQueue>=0.1.10' (verl's verl-core extra)"
        )
    plugin_problems = plugin_import_problems(cfg)
    if plugin_problems:
        lines = "\n".join(f"  - {p}" for p in plugin_problems)
        raise ValueError(f"plugin import failed ({len(plugin_problems)} problem(s)):\n{lines}")
    validate_config(cfg)
    problems = recipe_problems(cfg, check_paths=not dry_run)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ValueError(f"invalid cluster configuration ({len(problems)} problem(s)):\n{lines}")
    try:
        verl_validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    except AssertionError as e:  # verl reports several checks as bare asserts
        raise ValueError(f"verl's config validation failed: {e}") from None


def _task_runner_cls():
    """verl's ``TaskRunnerV1`` with the trainer class from :func:`nft.trainer.nft_trainer_cls`.

    verl 0.9.1 has a trainer registry (``verl/trainer/ppo/v1/trainer_base.py::register_trainer`` /
    ``get_trainer_cls``), but it is keyed by ``trainer.v1.trainer_mode`` and verl branches on that same
    string (``trainer_base.py``: ``self.trainer_mode == "sync"`` picks the replay buffer, refill and
    parameter-sync behaviour; ``trainer.v1.<mode>`` holds the mode's settings), so registering our class
    under a new mode name would change verl's behaviour, and a name cannot be re-registered to another
    class. No other hook selects the trainer class, so ``run`` below re-states verl's
    ``TaskRunnerV1.run`` (verl/trainer/main_ppo.py) statement for statement, with two changes: the
    trainer class comes from ``nft_trainer_cls`` and the TaskRunner process imports ``nft.register``.
    tests/test_main_startup.py compares it with the installed verl's source (AST, statement by
    statement) and fails when verl's original changes.
    """
    from pprint import pprint

    import ray
    from verl.trainer.main_ppo import TaskRunnerV1
    from verl.utils.logging_utils import configure_verl_logging

    base = TaskRunnerV1.__ray_actor_class__  # the plain class under verl's @ray.remote

    class NFTTaskRunner(base):
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

    auto_set_device(cfg)
    dry = is_dry_run()
    check(cfg, dry_run=dry)
    if dry:
        print(OmegaConf.to_yaml(cfg, resolve=True))
        print("=" * 80)
        print(summary(cfg))
        print("DRY_RUN: config composed and validated; Ray not started.")
        return
    from verl.trainer import main_ppo

    from nft.local.progress import FAILED, FINISHED, STARTED

    print(STARTED, flush=True)
    try:
        main_ppo.run_ppo(cfg, task_runner_class=_task_runner_cls())
    except BaseException as e:
        first = (str(e).strip().splitlines() or [""])[0]
        print(f"{FAILED} ({type(e).__name__}: {first})" if first else f"{FAILED} ({type(e).__name__})", flush=True)
        raise
    print(FINISHED, flush=True)


@hydra.main(config_path=None, config_name=None, version_base=None)
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
