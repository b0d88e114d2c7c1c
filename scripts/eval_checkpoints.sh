#!/usr/bin/env bash
# Evaluate every checkpoint a run kept and print one line per checkpoint:
# environment steps, mean, std, min and max return. Arguments after the run
# directory go to `somnium eval`, so a run can be scored acting by a planner
# it did not train with, e.g.
#   scripts/eval_checkpoints.sh runs/dreamer-pendulum-1795791425 --episodes 3 \
#       --set dreamer.planner.kind=cem
# Set SOMNIUM to the binary to use (default: target/release/somnium).
set -euo pipefail
run=${1:?usage: scripts/eval_checkpoints.sh <run-dir> [somnium eval arguments...]}
shift
somnium=${SOMNIUM:-target/release/somnium}
printf 'env_steps\tmean\tstd\tmin\tmax\n'
for dir in "$run"/checkpoints/[0-9]*; do
    [ -f "$dir/manifest.json" ] || continue
    steps=$((10#$(basename "$dir")))
    "$somnium" eval "$run" --checkpoint "$steps" "$@" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("\t".join([str(s["checkpoint_env_steps"])] + ["%.2f" % s[k] for k in ("mean_return", "std_return", "min_return", "max_return")]))'
done
