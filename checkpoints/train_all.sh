#!/usr/bin/env bash
# Rebuilds the shipped models from the recipe book (aae_core/recipes.py, which also holds the measured
# reasons behind each recipe). Each is trained into runs/shipped/NAME (resumable: run again after an
# interruption and it continues), exported to checkpoints/NAME with float16 weights, evaluated
# (metrics.json) and given its cached latent-map projection.
#   checkpoints/train_all.sh                               # all of them, in book order
#   checkpoints/train_all.sh semi_supervised_100 vae_2d    # just these
# Extra flags for every run (e.g. --device cuda) go in $TRAIN_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."

# The class-sweep check of the supervised models reads their decodings with a separate digit classifier.
[ -f checkpoints/judge_mnist/judge.json ] || python -m aae_core.judge --epochs 3 --out checkpoints/judge_mnist

names=("$@")
[ ${#names[@]} -gt 0 ] || mapfile -t names < <(python -c "import aae_core.recipes as r; print(*r.RECIPES, sep='\n')")
for name in "${names[@]}"; do
  run="runs/shipped/$name"
  resume=(); [ -f "$run/config.json" ] && resume=(--resume)
  echo "== $name: python -m aae_core.train --recipe $name --out $run ${resume[*]}"
  # shellcheck disable=SC2086
  python -m aae_core.train --recipe "$name" ${TRAIN_FLAGS:-} --out "$run" "${resume[@]}"
  python -m aae_core.export "$run" "checkpoints/$name" --overwrite
  python -m aae_core.evaluate "checkpoints/$name" > /dev/null
  python -m aae_core.projection "checkpoints/$name"
done
