# Shared by eval_local_7B.sh and eval_local_32B.sh (sourced, not run): they set PRESET and DEFAULT_TP.
# usage: bash eval_local_<SIZE>.sh MODEL_OR_CHECKPOINT [MORE ...] [extra nft.eval options]
models=()
while [[ $# -gt 0 && "$1" != -* ]]; do
  models+=(--model "$1")
  shift
done
if [[ ${#models[@]} -eq 0 ]]; then
  echo "usage: bash $(basename "$0") MODEL_OR_CHECKPOINT [MORE ...] [extra nft.eval options]" >&2
  exit 2
fi
cmd=("${PYTHON:-python}" -m nft.eval run "${models[@]}"
  --preset "$PRESET"
  --tp "${TP:-$DEFAULT_TP}"
  --data-dir "${DATA_DIR:-data}"
  --output "${OUTPUT:-eval_results/$PRESET}"
  --benchmarks "${BENCHMARKS:-aime24,math500,aime25,amc23,olympiadbench,minerva}"
  --n-samples "${N_SAMPLES:-paper}"
  --reference "${REFERENCE:-$PRESET}"
  "$@")
if [[ "${DRY_RUN:-0}" == 1 ]]; then
  printf '%q ' "${cmd[@]}"
  echo
  exit 0
fi
exec "${cmd[@]}"
