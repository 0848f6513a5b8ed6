#!/usr/bin/env bash
# The finetuning curve of the fused BERTs (configs/bert-fortunes.yaml): the OT-fused,
# repaired and vanilla models and the better parent, each finetuned separately for 5 %, 10 %
# and 25 % of a parent's training budget (13,290 steps of batch 16), same recipe for all;
# prints one line per model and budget: test MLM loss, perplexity, masked-token accuracy.
#
#   bench/finetune/bert-curve.sh [work-folder]
set -euo pipefail
cd "$(dirname "$0")/../.."
work="${1:-$(mktemp -d)}"
otfuse() { node bin/otfuse.js "$@"; }
otfuse run configs/bert-fortunes.yaml --output "$work/fused" --force
metrics() { node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const t=JSON.parse(s).finalTest;console.log([t.loss.toFixed(4),t.perplexity.toFixed(2),(100*t.accuracy).toFixed(2)+'%'].join(' '))})"; }
for model in fused/ot fused/ot-repaired fused/vanilla parent:models/fortunes/bert-a; do
  case "$model" in parent:*) folder="${model#parent:}" ;; *) folder="$work/$model" ;; esac
  for steps in 665 1329 3323; do
    printf '%s %s ' "$model" "$steps"
    otfuse finetune "$folder" --data data/fortunes-short --output "$work/ft" --steps "$steps" --lr 5e-4 \
      --batch-size 16 --pack --max-length 64 --seed 0 --force --json | metrics
  done
done
