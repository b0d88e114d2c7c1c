#!/usr/bin/env bash
# The GPU checks of docs/devices.md as one prepared script, for a GPU
# machine that has no Rust toolchain (binaries are built here and carried).
#
#   scripts/gpu_check.sh pack            # here: build with WGPU, pack into .gpu/
#   scripts/gpu_check.sh run [SECONDS]   # there, from the repository root
#
# `run` checks flex against $DEVICE (default `wgpu:0`; tests/backend_parity.rs), times a
# DreamerV3 update at the presets of $PRESETS (default xs,s) in f32 and f16,
# then trains the README's CartPole experiment on the GPU until SECONDS
# (default 480) have passed since it began. What it prints and the
# training metrics go to $OUT (default .gpu/out). Vulkan's loader must be
# installed there: `.deb` files in .gl/ are unpacked first if present.
set -uo pipefail
cd "$(dirname "$0")/.."
pack=.gpu/bins.tar.xz

if [ "${1:-}" = pack ]; then
    set -e
    cargo build --release --features wgpu --bin somnium --test backend_parity --bench dreamer_update
    newest() { ls -t target/release/deps/"$1"-* | grep -v '\.d$' | head -1; }
    rm -rf .gpu/bins && mkdir -p .gpu/bins
    cp target/release/somnium .gpu/bins/
    cp "$(newest backend_parity)" .gpu/bins/backend_parity
    cp "$(newest dreamer_update)" .gpu/bins/dreamer_update
    strip .gpu/bins/*
    # The test and bench binaries find experiments/ through the path they
    # were built in; `run` links that path to its own checkout.
    pwd > .gpu/bins/build_root
    XZ_OPT=-T0 tar -C .gpu/bins -cJf "$pack" . && rm -rf .gpu/bins
    ls -la "$pack"
    exit 0
fi
[ "${1:-}" = run ] || { echo "usage: $0 pack | run [SECONDS]" >&2; exit 2; }

budget=${2:-480}
device=${DEVICE:-wgpu:0}
out=${OUT:-.gpu/out}
mkdir -p "$out"
start=$(date +%s)
stage() { echo "== [$(($(date +%s) - start)) s] $*"; }
left() { echo $((budget - ($(date +%s) - start))); }

for f in .gl/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
ldconfig 2>/dev/null
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json \
    /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$icd" ] && { export VK_DRIVER_FILES=$icd; break; }
done
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
bins=/tmp/somnium-gpu-bins
mkdir -p $bins && tar -C $bins -xJf "$pack"
root=$(cat $bins/build_root)
[ -e "$root" ] || { mkdir -p "$(dirname "$root")" && ln -s "$PWD" "$root"; }

stage "backend parity: flex against $device"
SOMNIUM_PARITY_DEVICES=$device timeout 120 $bins/backend_parity --nocapture --test-threads 1 2>&1 |
    grep -E "parity|replica|test result|panicked"

for precision in f32 f16; do
    stage "DreamerV3 update, ${PRESETS:-xs,s}, $precision"
    (cd /tmp && SOMNIUM_BENCH_DEVICE=$device SOMNIUM_BENCH_SHARDS=1 \
        SOMNIUM_BENCH_PRESETS=${PRESETS:-xs,s} SOMNIUM_BENCH_PRECISION=$precision \
        timeout 150 $bins/dreamer_update --bench 2>&1 |
        grep -E "^dreamer|time:|panicked|Err")
done

stage "CartPole (README experiment) on $device for $(left) s"
(sleep 60; nvidia-smi --query-gpu=utilization.gpu,memory.used,power.draw --format=csv) &
timeout "$(left)" $bins/somnium train experiments/dreamer/cartpole.toml --device "$device" \
    --set run.update_shards=1 --set run.eval_every=1000 --logdir /tmp/somnium-gpu-runs \
    >"$out/train.log" 2>&1
cp /tmp/somnium-gpu-runs/*/metrics.jsonl "$out/" 2>/dev/null
grep -h '"eval/return"' "$out/metrics.jsonl"
grep -h updates_per_s "$out/metrics.jsonl" | tail -1
stage end
