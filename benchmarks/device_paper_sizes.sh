#!/bin/bash
# Device run (session 11): the paper's sizes for the clustering and semi-supervised recipes, and two more seeds of
# clustering_16 at the shipped size; all in parallel on one GPU, each stopped (SIGINT, saves) at a deadline.
# DRY=1 runs the same thing on the CPU for a minute (a check before spending device time).
# Carry the four MNIST files gzipped in runs/gpu/mnist (device tool: carry ["runs/gpu"]); see docs/sweeps.md.
set -u
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
T0=$(date +%s)
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
R=/tmp/r; rm -rf $R; mkdir -p $R
export AAE_DATA_DIR=/tmp/mnistdata; mkdir -p $AAE_DATA_DIR/MNIST/raw
for f in ${MNIST_GZ:-runs/gpu/mnist}/*.gz; do gunzip -c "$f" > $AAE_DATA_DIR/MNIST/raw/$(basename "$f" .gz); done
if [ "${DRY:-0}" = 1 ]; then DEV=cpu; LIMIT=${LIMIT:-60}; EXTRA="--epochs 1 --eval-size 200"; else DEV=cuda; LIMIT=${LIMIT:-400}; EXTRA=""; fi
( nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1; python3 -c "import torch,sys;print(sys.version, torch.__version__, torch.cuda.is_available())"; nproc ) > $R/machine.txt 2>&1
cat $R/machine.txt
job() { local name=$1; shift
  timeout -s INT -k 30 $LIMIT python3 -m aae_core.train --out $R/$name --device $DEV --precision fp32 --threads 1 \
     --no-snapshots "$@" $EXTRA > $R/$name.log 2>&1
  echo "$name rc=$? at $(( $(date +%s) - T0 )) s" >> $R/rc.txt; }
job c16_paper  --recipe clustering_16 --hidden 3000 --disc-hidden 3000 &
job c30_paper  --recipe clustering_30 --hidden 3000 --disc-hidden 3000 &
job s1000_paper --recipe semi_supervised_1000 --hidden 1000 --disc-hidden 1000 &
job s100_paper  --recipe semi_supervised_100 --hidden 1000 --disc-hidden 1000 &
job c16_seed1  --recipe clustering_16 --seed 1 &
job c16_seed2  --recipe clustering_16 --seed 2 &
# progress while they run
( while sleep 60; do echo "--- $(( $(date +%s) - T0 )) s"; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
  for l in $R/*.log; do printf '%s: ' $(basename $l .log); tr '\r' '\n' < $l | grep -v '^\s*$' | tail -1 | cut -c1-150; done; done ) &
MON=$!
wait $(jobs -p | grep -v "^$MON$") 2>/dev/null
kill $MON 2>/dev/null
echo "=== trained at $(( $(date +%s) - T0 )) s"; cat $R/rc.txt
# validation for every run (all 5,000 images), test for the paper-size runs (reported, not chosen on)
for d in $R/*/; do n=$(basename $d)
  ( python3 -m aae_core.evaluate $d --split validation --no-write --device $DEV > $R/$n.val.json 2> $R/$n.val.err
    case $n in *paper) python3 -m aae_core.evaluate $d --split test --no-write --device $DEV > $R/$n.test.json 2> $R/$n.test.err;; esac ) &
done; wait
echo "=== evaluated at $(( $(date +%s) - T0 )) s"
for d in $R/*/; do n=$(basename $d); cp $d/config.json $R/$n.config.json 2>/dev/null; cp $d/history.json $R/$n.history.json 2>/dev/null; ls -la $d > $R/$n.ls; done
tar czf $OUT/results.tgz -C $R $(cd $R && ls | grep -v /) --exclude='*/*' 2>/dev/null || tar czf $OUT/results.tgz -C $R --no-recursion $(cd $R && ls -p | grep -v /)
for n in c16_seed1 c16_seed2; do [ -f $R/$n/model.safetensors ] && tar cf $OUT/$n.tar -C $R $n/config.json $n/model.safetensors $(cd $R && ls $n | grep -v optimizer | sed "s|^|$n/|" | grep -v "model.safetensors\|config.json"); done
ls -la $OUT; echo "=== done at $(( $(date +%s) - T0 )) s"
for n in $R/*.val.json $R/*.test.json; do echo "$n: $(python3 -c "import json,sys;d=json.load(open('$n'));print({k:v for k,v in d.items() if isinstance(v,(int,float))})" 2>&1 | cut -c1-400)"; done
