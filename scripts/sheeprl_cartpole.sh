#!/usr/bin/env bash
# sheeprl's DreamerV3 on CartPole-v1 with the settings of
# experiments/dreamer/cartpole.toml, to compare the reference's learning curve
# with ours on the same machine (docs/results.md, DreamerV3 on CartPole,
# "Findings").
#
#   scripts/sheeprl_cartpole.sh run <seed> <env-steps> <out-dir> [hydra overrides...]
#   scripts/sheeprl_cartpole.sh convert <out-dir>
#
# `run` installs sheeprl 0.8.4 into $SHEEPRL_VENV (default .venv-sheeprl; an
# existing venv with torch is reused) and trains one seed on the CPU with one
# thread: size XS (sheeprl's dreamer_v3_XS: dense 256, recurrent 256, hidden
# 256, one layer, as our preset xs), 16 x 64 batches, replay ratio 0.5 (one
# update of 1,024 replayed steps per 2 environment steps: our train ratio
# 512), 1,000 steps of random prefill, the 2023 learning rates (world model
# 1e-4, actor and critic 3e-5). `convert` writes <out-dir>/metrics.jsonl from
# its TensorBoard events: `episode/return` is sheeprl's mean training return
# over each 500 steps (the policy samples its actions, as our evaluations
# do), so `somnium plot <out-dir> <our run> --metric episode/return` draws
# both. sheeprl evaluates nothing during training.
#
# A stopped run continues from its newest checkpoint (every 1,000 steps, with
# its replay buffer) with the same `run` command plus
# `checkpoint.resume_from=<out-dir>/.../checkpoint/ckpt_<steps>_0.ckpt`;
# sheeprl starts a second run directory under <out-dir>, and `convert` merges
# the events of both.
set -euo pipefail

venv=${SHEEPRL_VENV:-.venv-sheeprl}

ensure_venv() {
    if [ ! -x "$venv/bin/sheeprl" ]; then
        [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet "sheeprl==0.8.4"
    fi
}

case "${1:-}" in
run)
    [ $# -ge 4 ] || { echo "usage: $0 run <seed> <env-steps> <out-dir> [overrides...]" >&2; exit 2; }
    seed=$2 steps=$3 out=$4
    shift 4
    ensure_venv
    mkdir -p "$out"
    # Hydra writes the run under <out>/<root_dir>/<run_name>.
    exec "$venv/bin/sheeprl" exp=dreamer_v3 env=gym env.id=CartPole-v1 algo=dreamer_v3_XS \
        algo.replay_ratio=0.5 algo.learning_starts=1000 algo.total_steps="$steps" \
        algo.per_rank_batch_size=16 algo.per_rank_sequence_length=64 \
        'algo.cnn_keys.encoder=[]' 'algo.cnn_keys.decoder=[]' \
        'algo.mlp_keys.encoder=[vector]' 'algo.mlp_keys.decoder=[vector]' \
        env.num_envs=1 env.sync_env=True env.capture_video=False buffer.size=100000 \
        metric.log_every=500 algo.run_test=False checkpoint.every=1000 num_threads=1 \
        seed="$seed" log_root="$out" "$@"
    ;;
convert)
    [ $# -eq 2 ] || { echo "usage: $0 convert <out-dir>" >&2; exit 2; }
    ensure_venv
    "$venv/bin/python" - "$2" <<'EOF'
import glob, json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

out = sys.argv[1]
events = sorted(glob.glob(f"{out}/**/events.out.tfevents*", recursive=True))
if not events:
    sys.exit(f"{out}: no TensorBoard events under it")
rows = {}
for path in events:
    acc = EventAccumulator(path, size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags()["scalars"]
    for tag, key in (("Rewards/rew_avg", "episode/return"), ("Time/sps_train", "perf/updates_per_s")):
        if tag in tags:
            for event in acc.Scalars(tag):
                rows.setdefault(event.step, {"step": event.step})[key] = event.value
with open(f"{out}/metrics.jsonl", "w") as file:
    for step in sorted(rows):
        file.write(json.dumps(rows[step]) + "\n")
print(f"{out}/metrics.jsonl: {len(rows)} rows")
EOF
    ;;
*)
    echo "usage: $0 run <seed> <env-steps> <out-dir> [overrides...] | convert <out-dir>" >&2
    exit 2
    ;;
esac
