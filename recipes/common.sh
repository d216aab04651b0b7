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
#   NORMALIZE      NFT prompt weight: 0 -> 1, 1 -> 1 - r (default), 2 -> sqrt((1 - r)/r); for ALGO=rft the
#                  default is 0 with PRESET=paper and 1 with PRESET=authors (NORMALIZE=0|1 picks either)
#   PRESET         paper (default): the paper's settings, verl's token-mean loss, our verifier |
#                  authors: what the authors' scripts (NVlabs/NFT) set where it changes training or
#                  validation: their loss scale at their DP size, their grader, their RFT weighting,
#                  their validation sampling and frequency, their 32B DAPO overlong penalty.
#                  DRY_RUN=1 prints the table (key, paper, authors, source line); docs/cluster.md
#   NNODES, GPUS_PER_NODE, MODEL_PATH, DATA_DIR, TRAIN_FILE, VAL_FILES (comma-separated)
#   PROJECT, EXP_NAME, CKPT_DIR, TOTAL_STEPS, SAVE_FREQ, TEST_FREQ, ROLLOUT_NAME (vllm)
#   LOGGER         console (default) | wandb | tensorboard | "wandb,tensorboard" (console is always on);
#                  credentials come from your environment (`wandb login`), never from these scripts
#   SUBMIT=1       submit to a running Ray cluster with `ray job submit` (see recipes/ray_cluster.sh);
#                  RAY_ADDRESS (default http://127.0.0.1:8265), RAY (ray executable, default ray)
#   LORA_RANK      > 0: train a LoRA adapter instead of all weights (verl's FSDP LoRA, peft): rank, with
#                  LORA_ALPHA (default 2 x rank), LORA_TARGETS (default all-linear: q/k/v/o and MLP
#                  projections) and lr 1e-5 instead of 1e-6 (LR overrides); docs/cluster.md "LoRA"
#   LR             actor learning rate (default 1e-6, the paper's; 1e-5 with LORA_RANK > 0)
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
    rft)  # rejection-sampling fine-tuning: positives only. Prompt weight: 1 (NORMALIZE=0, PRESET=paper) or
          # 1 - r (NORMALIZE=1, PRESET=authors: their scripts keep normalize=1 and only set neg_weight=0)
      [[ -z "${NEG_WEIGHT:-}" || "$NEG_WEIGHT" == "0" || "$NEG_WEIGHT" == "0.0" ]] || \
        nft_die "ALGO=rft means neg_weight=0; got NEG_WEIGHT=$NEG_WEIGHT (use ALGO=nft for other values)"
      local rft_norm=0
      [[ "${PRESET:-paper}" == "authors" ]] && rft_norm=1
      ALGO_ARGS=(algorithm.adv_estimator=nft "$pl.loss_mode=nft" "$pl.neg_weight=0.0" "$pl.normalize=${NORMALIZE:-$rft_norm}") ;;
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
  nft_offpolicy_args
  ALGO_ARGS+=("${OFFPOLICY_ARGS[@]}")
}

# Off-policy switches (docs/off_policy.md), appended to ALGO_ARGS for every algorithm:
#   BYPASS=1       algorithm.rollout_correction.bypass_mode=true: the rollout's log-probs are the old
#                  policy's (no old-log-prob forward pass); on the v1 trainer NFT keeps its loss and its
#                  ratio becomes pi_theta / pi_rollout
#   TRAINER_MODE   sync (default) | colocate_async | separate_async (trainer.v1.trainer_mode). The async
#                  modes train on answers of older weights: with ALGO=nft they need BYPASS=1 (or a
#                  rollout_is override), and the generation cap is off (filter_groups.max_num_gen_batches=0,
#                  which nft.main requires outside sync mode)
nft_offpolicy_args() {
  OFFPOLICY_ARGS=()
  case "${BYPASS:-0}" in
    1|true) OFFPOLICY_ARGS+=(algorithm.rollout_correction.bypass_mode=true actor_rollout_ref.rollout.calculate_log_probs=true) ;;
    0|false) ;;
    *) nft_die "BYPASS=$BYPASS must be 0 or 1" ;;
  esac
  case "${TRAINER_MODE:-sync}" in
    sync) ;;
    colocate_async|separate_async)
      OFFPOLICY_ARGS+=("trainer.v1.trainer_mode=$TRAINER_MODE" algorithm.filter_groups.max_num_gen_batches=0) ;;
    *) nft_die "TRAINER_MODE=$TRAINER_MODE is not one of sync, colocate_async, separate_async" ;;
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

# PRESET=paper|authors. Sets PRESET_ARGS (Hydra overrides placed after the paper's and the size
# script's, before the algorithm's and the command line's), the defaults of TEST_FREQ, VAL_BEFORE_TRAIN
# and VAL_TEMPERATURE when unset, and PRESET_ROWS (the dry-run table). Sources: the authors' repository
# NVlabs/NFT at commit b358fae; AUTHORS_SCRIPT (their train_7B.sh or train_32B.sh) and AUTHORS_DP_SIZE
# come from the size script.
NFT_AUTHORS_COMMIT=b358fae
nft_preset_row() { PRESET_ROWS+=("$1|$2|$3|$4"); }
nft_preset_args() {
  PRESET=${PRESET:-paper}
  [[ "$PRESET" == "paper" || "$PRESET" == "authors" ]] || nft_die "PRESET=$PRESET is not one of paper, authors"
  local S=${AUTHORS_SCRIPT:-train_7B.sh} pl=actor_rollout_ref.actor.policy_loss
  # line numbers in their $S: truncation, val_before_train, test_freq, val top_p, val temperature,
  # neg_weight comment, normalize, sp_size, save_freq, gpu memory, actor token budget
  local L_trunc L_vbt L_tf L_topp L_temp L_nw L_norm L_sp L_save L_gmu L_tok L_tokarg
  if [[ "$S" == "train_32B.sh" ]]; then
    L_trunc=80 L_vbt=144 L_tf=145 L_topp=129 L_temp=130 L_nw=46 L_norm=52 L_sp=68 L_save=146 L_gmu=124 L_tok=70 L_tokarg=106
  else
    L_trunc=73 L_vbt=137 L_tf=138 L_topp=122 L_temp=123 L_nw=52 L_norm=58 L_sp=61 L_save=139 L_gmu=117 L_tok=63 L_tokarg=99
  fi
  local paper_temp=${PAPER_VAL_TEMPERATURE:-1.0} dp=${AUTHORS_DP_SIZE:-32}
  PRESET_ROWS=()
  nft_preset_row "$pl.aggregation" "verl (actor.loss_agg_mode=token-mean)" "authors (rank token sum / 1000)" \
    "dp_actor.py:371-373"
  nft_preset_row "$pl.authors_dp_size" "0 (unused)" "$dp" \
    "README.md:103 ($([[ $S == train_32B.sh ]] && echo '16x8 GPUs' || echo '4x8 GPUs')), $S:$L_sp (sp_size), fsdp_workers.py:108-109 (dp = world / sp)"
  nft_preset_row "+reward.custom_reward_function.reward_kwargs.grader" "(unset: nft verifier)" "authors" \
    "main_nft.py:95-98 (verifier.py:33,53 replace verl's scorers)"
  nft_preset_row "trainer.val_before_train" "true" "false" "$S:$L_vbt"
  nft_preset_row "trainer.test_freq" "10" "2" "$S:$L_tf"
  nft_preset_row "actor_rollout_ref.rollout.val_kwargs.temperature" "$paper_temp" "0.6" "$S:$L_temp"
  nft_preset_row "actor_rollout_ref.rollout.val_kwargs.top_p / top_k / n" "0.7 / -1 / 1" "0.7 / -1 / 1 (same)" \
    "$S:$((L_topp - 1))-$((L_topp + 2))"
  nft_preset_row "+reward.custom_reward_function.reward_kwargs.truncated_is_negative" \
    "(unset: true, an answer cut at max_response_length scores -1)" "false (the cut text is graded)" \
    "main_nft.py:166-169 (verl's naive reward manager, no truncation flag)"
  nft_preset_row "data.truncation" "error" "error (same: their script's left is not used)" \
    "$S:$L_trunc, ray_nft_trainer.py:514,539 (truncation='error')"
  nft_preset_row "ALGO=rft: $pl.normalize" "0 (weight 1)" "1 (weight 1 - r)" "$S:$L_nw,$L_norm"
  if [[ "$S" == "train_32B.sh" ]]; then
    nft_preset_row "ALGO=dapo: reward.reward_manager + reward_kwargs.overlong_buffer_cfg" "the yaml's, none" \
      "verl's dapo, enable len=4096 penalty=1.0, max_resp_len=\$MAX_RESPONSE_LEN" "train_32B.sh:53-58"
  else
    nft_preset_row "ALGO=dapo: overlong penalty" "none" "none (same)" "train_7B.sh:19-21"
  fi
  nft_preset_row "ALGO=dapo: loss aggregation" "token-mean over the mini-batch" \
    "not expressible in verl 0.9.1 (sum of each dynamic micro-batch's token mean); token-mean kept" \
    "dp_actor.py:311-320,395-400"
  nft_preset_row "trainer.save_freq" "20" "not applied (theirs 2; checkpoint cadence only)" "$S:$L_save"
  nft_preset_row "actor_rollout_ref.actor.ppo_max_token_len_per_gpu" "2 x (prompt+response) / SP" \
    "not applied (theirs prompt+response; micro-batch packing, same gradient)" "$S:$L_tok,$L_tokarg"
  [[ "$S" == "train_32B.sh" ]] && nft_preset_row "actor_rollout_ref.rollout.gpu_memory_utilization" "0.7" \
    "not applied (theirs 0.6; memory only)" "train_32B.sh:$L_gmu"

  PRESET_ARGS=()
  if [[ "$PRESET" == "authors" ]]; then
    TEST_FREQ=${TEST_FREQ:-2}
    VAL_BEFORE_TRAIN=${VAL_BEFORE_TRAIN:-false}
    VAL_TEMPERATURE=${VAL_TEMPERATURE:-0.6}
    PRESET_ARGS=("$pl.aggregation=authors" "$pl.authors_dp_size=$dp"
                 "+reward.custom_reward_function.reward_kwargs.grader=authors"
                 "+reward.custom_reward_function.reward_kwargs.truncated_is_negative=false")
    if [[ "$ALGO" == "dapo" && "$S" == "train_32B.sh" ]]; then
      PRESET_ARGS+=(reward.reward_manager.source=register reward.reward_manager.name=dapo
                    +reward.reward_kwargs.overlong_buffer_cfg.enable=true
                    +reward.reward_kwargs.overlong_buffer_cfg.len=4096
                    +reward.reward_kwargs.overlong_buffer_cfg.penalty_factor=1.0
                    +reward.reward_kwargs.overlong_buffer_cfg.log=false
                    "+reward.reward_kwargs.max_resp_len=$MAX_RESPONSE_LEN")
    fi
  else
    VAL_TEMPERATURE=${VAL_TEMPERATURE:-$paper_temp}
  fi
}

nft_print_preset_table() {
  echo "PRESET=$PRESET (paper | authors; the authors' values from github.com/NVlabs/NFT @ $NFT_AUTHORS_COMMIT)"
  local row k p a src
  printf '| %s | %s | %s | %s |\n' "key" "paper preset" "authors preset" "source (NVlabs/NFT)"
  printf '|---|---|---|---|\n'
  for row in "${PRESET_ROWS[@]}"; do
    IFS='|' read -r k p a src <<< "$row"
    printf '| %s | %s | %s | %s |\n' "$k" "$p" "$a" "$src"
  done
}

# The paper's hyper-parameters as Hydra overrides, from the variables the size script set.
nft_paper_args() {
  local seq=$((MAX_PROMPT_LEN + MAX_RESPONSE_LEN))
  LORA_RANK=${LORA_RANK:-0}
  [[ "$LORA_RANK" =~ ^[0-9]+$ ]] || nft_die "LORA_RANK=$LORA_RANK must be a non-negative integer"
  if [[ "$LORA_RANK" -gt 0 && "${ENGINE:-fsdp}" != "fsdp" ]]; then
    nft_die "LORA_RANK applies to the FSDP scripts (train_7B.sh, train_32B.sh); Megatron LoRA uses actor_rollout_ref.model.lora.*"
  fi
  if [[ "$LORA_RANK" -gt 0 ]]; then LR=${LR:-1e-5}; else LR=${LR:-1e-6}; fi
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
    actor_rollout_ref.actor.optim.lr="$LR"
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
  if [[ "$LORA_RANK" -gt 0 ]]; then
    # verl/workers/engine/fsdp/transformer_impl.py::_build_lora_module wraps the actor in a peft LoRA model
    # (model.lora_rank > 0); only the adapter trains and is synced to the rollout.
    PAPER_ARGS+=(actor_rollout_ref.model.lora_rank="$LORA_RANK"
                 actor_rollout_ref.model.lora_alpha="${LORA_ALPHA:-$((2 * LORA_RANK))}"
                 actor_rollout_ref.model.target_modules="${LORA_TARGETS:-all-linear}")
  fi
  if [[ "${ENGINE:-fsdp}" == "fsdp" ]]; then
    PAPER_ARGS+=(actor_rollout_ref.actor.fsdp_config.ulysses_sequence_parallel_size="$SP"
                 actor_rollout_ref.actor.grad_clip=1.0)
  fi
}

nft_launch() {
  [[ "${NNODES}" =~ ^[0-9]+$ && "$NNODES" -ge 1 ]] || nft_die "NNODES=$NNODES must be a positive integer"
  [[ "${GPUS_PER_NODE}" =~ ^[0-9]+$ && "$GPUS_PER_NODE" -ge 1 ]] || nft_die "GPUS_PER_NODE=$GPUS_PER_NODE must be a positive integer"
  nft_algo_args
  nft_preset_args
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
  [[ "$ALGO" == "rft" && -n "${NORMALIZE:-}" ]] && tag="rft-norm${NORMALIZE}"
  [[ "$PRESET" == "authors" ]] && tag="$tag-authors"
  [[ "$LORA_RANK" -gt 0 ]] && tag="$tag-lora$LORA_RANK"
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
    "${PAPER_ARGS[@]}" "${SIZE_ARGS[@]}" "${PRESET_ARGS[@]}" "${ALGO_ARGS[@]}" "$@"
  )
  if [[ "${PRINT_ARGS:-0}" == "1" ]]; then  # the Hydra overrides, one per line (used by the tests)
    printf '%s\n' "${args[@]}"
    return 0
  fi
  local cmd=("$PYTHON" -m nft.main "--config-path=$NFT_ROOT/recipes/config" --config-name=nft_trainer "${args[@]}")
  if [[ "${DRY_RUN:-0}" == "1" ]]; then nft_print_preset_table; echo; fi

  if [[ "${SUBMIT:-0}" == "1" ]]; then
    # Every Ray process imports our plugin: VERL_USE_EXTERNAL_MODULES is imported at `import verl`
    # (verl/__init__.py) in each worker; py_modules ships this checkout's nft package to every node.
    # The job's env_vars reach the driver and every Ray worker of the job (and what they spawn, e.g.
    # vLLM's engine processes). The submitting shell's VERL_USE_EXTERNAL_MODULES modules come first
    # (e.g. nft.local.plugin, the CPU platform), nft.register always; VERL_PLATFORM, VLLM_CPU_* and
    # NFT_CPU_* are forwarded when set (the CPU platform's settings: docs/cluster.md).
    local env_json
    env_json=$("$PYTHON" - "$NFT_ROOT" <<'PY'
import json, os, sys
mods = [m.strip() for m in os.environ.get("VERL_USE_EXTERNAL_MODULES", "").split(",") if m.strip()]
mods += [] if "nft.register" in mods else ["nft.register"]
env = {"VERL_USE_EXTERNAL_MODULES": ",".join(mods), "TOKENIZERS_PARALLELISM": "true", "NCCL_DEBUG": "WARN"}
keys = ("WANDB_API_KEY", "WANDB_ENTITY", "WANDB_MODE", "TENSORBOARD_DIR", "HF_ENDPOINT", "HF_HOME", "VLLM_USE_V1",
        "VERL_PLATFORM")
for k, v in sorted(os.environ.items()):
    if v and (k in keys or k.startswith(("VLLM_CPU_", "NFT_CPU_"))):
        env[k] = v
print(json.dumps({"env_vars": env, "py_modules": [os.path.join(sys.argv[1], "nft")]}))
PY
)
    local submit=("${RAY:-ray}" job submit --address "${RAY_ADDRESS:-http://127.0.0.1:8265}" --runtime-env-json "$env_json" --)
    if [[ "${DRY_RUN:-0}" == "1" ]]; then
      echo "DRY_RUN: would submit: ${submit[*]} ${cmd[*]}"
      DRY_RUN=1 exec "${cmd[@]}"
    fi
    exec "${submit[@]}" "${cmd[@]}"
  fi
  exec "${cmd[@]}"
}
