# Shared by eval_local_7B.sh and eval_local_32B.sh (sourced, not run): they set SIZE and DEFAULT_TP;
# PRESET=paper|authors|authors-by-path (environment) picks the paper's or the authors' sampling settings
# for that size (nft/eval/generate.py: their two eval scripts by file name, or by the model their save_path names).
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
PRESET=${PRESET:-paper}
case "$PRESET" in
  paper) out_default="eval_results/$SIZE" ;;
  authors|authors-by-path) out_default="eval_results/$SIZE-$PRESET" ;;
  *) echo "error: PRESET=$PRESET is not one of paper, authors, authors-by-path" >&2; exit 2 ;;
esac
cmd=("${PYTHON:-python}" -m nft.eval run "${models[@]}"
  --preset "$SIZE"
  --settings "$PRESET"
  --tp "${TP:-$DEFAULT_TP}"
  --data-dir "${DATA_DIR:-data}"
  --output "${OUTPUT:-$out_default}"
  --benchmarks "${BENCHMARKS:-aime24,math500,aime25,amc23,olympiadbench,minerva}"
  --n-samples "${N_SAMPLES:-paper}"
  --reference "${REFERENCE:-$SIZE}"
  "$@")
if [[ "${DRY_RUN:-0}" == 1 ]]; then
  printf '%q ' "${cmd[@]}"
  echo
  exit 0
fi
exec "${cmd[@]}"
