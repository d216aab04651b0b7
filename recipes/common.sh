# Shared by train_7B.sh, train_32B.sh and recipes/train_32B_megatron.sh (sourced, not run).
#
# The size scripts set their paper defaults (only if the variable is unset) and an array SIZE_ARGS of
# Hydra overrides, then call `nft_launch "$@"`. This file adds the algorithm switch, paths, logging and
# the launch (local, or `ray job submit` to an existing multi-node Ray cluster).
#
# Knobs (environment variables):
#   ALGO           nft (default) | rft | dapo | grpo | drgrpo
#   NEG_WEIGHT     NFT's lambda (default 1); 0 with ALGO=nft = NFT loss without negatives;
#                  -1 = the DAPO baseline (same as ALGO=dapo), as in the authors' scripts
#   NORMALIZE      NFT prompt weight: 0 -> 1, 1 -> 1 - r (default), 2 -> sqrt((1 - r)/r)
#   NNODES, GPUS_PER_NODE, MODEL_PATH, DATA_DIR, TRAIN_FILE, VAL_FILES (comma-separated)
#   PROJECT, EXP_NAME, CKPT_DIR, TOTAL_STEPS, SAVE_FREQ, TEST_FREQ, ROLLOUT_NAME (vllm)
#   LOGGER         console (default) | wandb | tensorboard | "wandb,tensorboard" (console is always on);
#                  credentials come from your environment (`wandb login`), never from these scripts
#   SUBMIT=1       submit to a running Ray cluster with `ray job submit` (see recipes/ray_cluster.sh);
#                  RAY_ADDRESS (default http://127.0.0.1:8265)
#   DRY_RUN=1      compose + validate + print the config; no Ray, no GPU (also with SUBMIT=1)
#   PRINT_ARGS=1   print the Hydra overrides one per line and exit (no Python started)
#   PYTHON         interpreter (default python3)
# Extra arguments are Hydra overrides appended last (they win).

PYTHON=${PYTHON:-python3}
NFT_ROOT=${NFT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

nft_die() { echo "error: $*" >&2; exit 2; }

# Absolute path of $1 (relative to the current directory), so that `ray job submit` (which runs the
# entry point in its own directory) sees the same files.
nft_abspath() { case "$1" in /*|*://*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }

nft_algo_args() {
  ALGO=${ALGO:-}
  if [[ "${NEG_WEIGHT:-}" == "-1" || "${NEG_WEIGHT:-}" == "-1.0" ]]; then
    [[ -z "$ALGO" || "$ALGO" == "dapo" ]] || nft_die "NEG_WEIGHT=-1 means the DAPO baseline but ALGO=$ALGO; unset one of them"
    ALGO=dapo
  fi
  ALGO=${ALGO:-nft}
  if [[ "$ALGO" != "nft" && "$ALGO" != "rft" && -n "${NEG_WEIGHT:-}" && "${NEG_WEIGHT}" != "-1" && "${NEG_WEIGHT}" != "-1.0" ]]; then
    nft_die "NEG_WEIGHT=$NEG_WEIGHT applies to ALGO=nft only (ALGO=$ALGO)"
  fi
  if [[ "$ALGO" != "nft" && "$ALGO" != "rft" && -n "${NORMALIZE:-}" ]]; then
    nft_die "NORMALIZE=$NORMALIZE applies to ALGO=nft/rft only (ALGO=$ALGO)"
  fi
  local pl=actor_rollout_ref.actor.policy_loss
  case "$ALGO" in
    nft)  # paper Eq. 10; loss/estimator/no-KL/filter-groups defaults live in recipes/config/nft_trainer.yaml
      ALGO_ARGS=(algorithm.adv_estimator=nft "$pl.loss_mode=nft"
                 "$pl.neg_weight=${NEG_WEIGHT:-1.0}" "$pl.normalize=${NORMALIZE:-1}") ;;
    rft)  # rejection-sampling fine-tuning: positives only, prompt weight 1 (paper's RFT)
      [[ -z "${NEG_WEIGHT:-}" || "$NEG_WEIGHT" == "0" || "$NEG_WEIGHT" == "0.0" ]] || \
        nft_die "ALGO=rft means neg_weight=0; got NEG_WEIGHT=$NEG_WEIGHT (use ALGO=nft for other values)"
      ALGO_ARGS=(algorithm.adv_estimator=nft "$pl.loss_mode=nft" "$pl.neg_weight=0.0" "$pl.normalize=${NORMALIZE:-0}") ;;
    dapo) # GRPO advantages, PPO clip-higher 0.2/0.28, token-mean, dynamic sampling (kept from the yaml)
      ALGO_ARGS=(algorithm.adv_estimator=grpo algorithm.norm_adv_by_std_in_grpo=true "$pl.loss_mode=vanilla"
                 actor_rollout_ref.actor.clip_ratio_low=0.2 actor_rollout_ref.actor.clip_ratio_high=0.28
                 actor_rollout_ref.actor.loss_agg_mode=token-mean) ;;
    grpo) # GRPO: std-normalized group advantages, symmetric clip 0.2, per-sequence mean of token means
      ALGO_ARGS=(algorithm.adv_estimator=grpo algorithm.norm_adv_by_std_in_grpo=true "$pl.loss_mode=vanilla"
                 actor_rollout_ref.actor.clip_ratio_low=0.2 actor_rollout_ref.actor.clip_ratio_high=0.2
                 actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-mean) ;;
    drgrpo) # Dr.GRPO: advantages y - mean (no std), constant length normalizer
      ALGO_ARGS=(algorithm.adv_estimator=grpo algorithm.norm_adv_by_std_in_grpo=false "$pl.loss_mode=vanilla"
                 actor_rollout_ref.actor.clip_ratio_low=0.2 actor_rollout_ref.actor.clip_ratio_high=0.2
                 actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-sum-norm) ;;
    *) nft_die "ALGO=$ALGO is not one of nft, rft, dapo, grpo, drgrpo" ;;
  esac
}

nft_logger_arg() {
  local l=${LOGGER:-console} out="console" x
  IFS=',' read -r -a _lg <<< "$l"
  for x in "${_lg[@]}"; do
    x=${x// /}
    case "$x" in
      console|"") ;;
      wandb|tensorboard|mlflow|swanlab|trackio) out="$out,$x" ;;
      *) nft_die "LOGGER=$l: unknown logger '$x' (console, wandb, tensorboard, mlflow, swanlab, trackio)" ;;
    esac
  done
  LOGGER_ARG="trainer.logger=[$out]"
}

nft_val_files_arg() {
  local files=() f out=""
  IFS=',' read -r -a files <<< "$1"
  for f in "${files[@]}"; do
    f=$(nft_abspath "${f// /}")
    out="${out:+$out,}'$f'"
  done
  VAL_ARG="data.val_files=[$out]"
}

# The paper's hyper-parameters as Hydra overrides, from the variables the size script set.
nft_paper_args() {
  local seq=$((MAX_PROMPT_LEN + MAX_RESPONSE_LEN))
  # dynamic batching packs up to <tokens per GPU> x SP tokens per micro-batch (verl/workers/engine/utils.py)
  ACTOR_TOKENS=${ACTOR_TOKENS:-$((seq * 2 / SP))}
  INFER_TOKENS=${INFER_TOKENS:-$((seq * 3 / SP))}
  PAPER_ARGS=(
    data.train_batch_size="$TRAIN_BATCH"
    data.max_prompt_length="$MAX_PROMPT_LEN"
    data.max_response_length="$MAX_RESPONSE_LEN"
    data.filter_overlong_prompts=true
    data.truncation=error
    algorithm.filter_groups.max_num_gen_batches="$MAX_GEN_BATCHES"
    algorithm.filter_groups.max_inflight_gen_batches="$GEN_BATCHES_INFLIGHT"
    actor_rollout_ref.model.use_remove_padding=true
    actor_rollout_ref.model.enable_gradient_checkpointing=true
    actor_rollout_ref.actor.ppo_mini_batch_size="$MINI_BATCH"
    actor_rollout_ref.actor.use_dynamic_bsz=true
    actor_rollout_ref.actor.ppo_max_token_len_per_gpu="$ACTOR_TOKENS"
    actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu="$INFER_TOKENS"
    actor_rollout_ref.actor.optim.lr=1e-6
    actor_rollout_ref.actor.optim.lr_warmup_steps=10
    actor_rollout_ref.actor.optim.weight_decay=0.1
    actor_rollout_ref.actor.optim.clip_grad=1.0
    actor_rollout_ref.actor.use_kl_loss=false
    actor_rollout_ref.actor.entropy_coeff=0
    algorithm.use_kl_in_reward=false
    actor_rollout_ref.rollout.n="$N_ANSWERS"
    actor_rollout_ref.rollout.temperature=1.0
    actor_rollout_ref.rollout.top_p=1.0
    actor_rollout_ref.rollout.tensor_model_parallel_size="$ROLLOUT_TP"
    actor_rollout_ref.rollout.gpu_memory_utilization="$GPU_MEM"
    actor_rollout_ref.rollout.val_kwargs.do_sample=true
    actor_rollout_ref.rollout.val_kwargs.temperature="$VAL_TEMPERATURE"
    actor_rollout_ref.rollout.val_kwargs.top_p=0.7
    actor_rollout_ref.rollout.val_kwargs.n=1
  )
  if [[ "${ENGINE:-fsdp}" == "fsdp" ]]; then
    PAPER_ARGS+=(actor_rollout_ref.actor.fsdp_config.ulysses_sequence_parallel_size="$SP"
                 actor_rollout_ref.actor.grad_clip=1.0)
  fi
}

nft_launch() {
  [[ "${NNODES}" =~ ^[0-9]+$ && "$NNODES" -ge 1 ]] || nft_die "NNODES=$NNODES must be a positive integer"
  [[ "${GPUS_PER_NODE}" =~ ^[0-9]+$ && "$GPUS_PER_NODE" -ge 1 ]] || nft_die "GPUS_PER_NODE=$GPUS_PER_NODE must be a positive integer"
  nft_algo_args
  nft_logger_arg
  nft_paper_args
  DATA_DIR=$(nft_abspath "${DATA_DIR:-data}")
  TRAIN_FILE=$(nft_abspath "${TRAIN_FILE:-$DATA_DIR/dapo-math-17k_10boxed.parquet}")
  VAL_FILES=${VAL_FILES:-$DATA_DIR/aime-2024-boxed_w_answer.parquet,$DATA_DIR/aime2025_32_dapo_boxed_w_answer.parquet,$DATA_DIR/amc2023_32_dapo_boxed_w_answer.parquet,$DATA_DIR/math500_boxed.parquet,$DATA_DIR/minerva_math.parquet,$DATA_DIR/olympiadbench.parquet}
  nft_val_files_arg "$VAL_FILES"
  if [[ -e "$MODEL_PATH" || "$MODEL_PATH" == ./* || "$MODEL_PATH" == ../* ]]; then MODEL_PATH=$(nft_abspath "$MODEL_PATH"); fi
  PROJECT=${PROJECT:-nft}
  local tag=$ALGO
  [[ "$ALGO" == "nft" ]] && tag="nft-nw${NEG_WEIGHT:-1}-norm${NORMALIZE:-1}"
  EXP_NAME=${EXP_NAME:-${SIZE_NAME}-${tag}}
  CKPT_DIR=$(nft_abspath "${CKPT_DIR:-checkpoints}")

  local args=(
    "data.train_files='$TRAIN_FILE'" "$VAL_ARG"
    "actor_rollout_ref.model.path='$MODEL_PATH'"
    "trainer.nnodes=$NNODES" "trainer.n_gpus_per_node=$GPUS_PER_NODE"
    "trainer.project_name=$PROJECT" "trainer.experiment_name=$EXP_NAME"
    "trainer.default_local_dir='$CKPT_DIR/$PROJECT/$EXP_NAME'"
    "$LOGGER_ARG"
    "trainer.total_training_steps=${TOTAL_STEPS}" "trainer.total_epochs=1000"
    "trainer.save_freq=${SAVE_FREQ:-20}" "trainer.test_freq=${TEST_FREQ:-10}" "trainer.val_before_train=${VAL_BEFORE_TRAIN:-true}"
    "actor_rollout_ref.rollout.name=${ROLLOUT_NAME:-vllm}"
    "${PAPER_ARGS[@]}" "${SIZE_ARGS[@]}" "${ALGO_ARGS[@]}" "$@"
  )
  if [[ "${PRINT_ARGS:-0}" == "1" ]]; then  # the Hydra overrides, one per line (used by the tests)
    printf '%s\n' "${args[@]}"
    return 0
  fi
  local cmd=("$PYTHON" -m nft.main "--config-path=$NFT_ROOT/recipes/config" --config-name=nft_trainer "${args[@]}")

  if [[ "${SUBMIT:-0}" == "1" ]]; then
    # Every Ray process imports our plugin: VERL_USE_EXTERNAL_MODULES is imported at `import verl`
    # (verl/__init__.py) in each worker; py_modules ships this checkout's nft package to every node.
    local env_json
    env_json=$("$PYTHON" - "$NFT_ROOT" <<'PY'
import json, os, sys
env = {"VERL_USE_EXTERNAL_MODULES": "nft.register", "TOKENIZERS_PARALLELISM": "true", "NCCL_DEBUG": "WARN"}
for k in ("WANDB_API_KEY", "WANDB_ENTITY", "WANDB_MODE", "TENSORBOARD_DIR", "HF_ENDPOINT", "HF_HOME", "VLLM_USE_V1"):
    if os.environ.get(k):
        env[k] = os.environ[k]
print(json.dumps({"env_vars": env, "py_modules": [os.path.join(sys.argv[1], "nft")]}))
PY
)
    local submit=(ray job submit --address "${RAY_ADDRESS:-http://127.0.0.1:8265}" --runtime-env-json "$env_json" --)
    if [[ "${DRY_RUN:-0}" == "1" ]]; then
      echo "DRY_RUN: would submit: ${submit[*]} ${cmd[*]}"
      DRY_RUN=1 exec "${cmd[@]}"
    fi
    exec "${submit[@]}" "${cmd[@]}"
  fi
  exec "${cmd[@]}"
}
