#!/usr/bin/env bash
# The GPU checks of docs/devices.md as one prepared script, for a GPU
# machine that has no Rust toolchain (binaries are built here and carried).
#
#   scripts/gpu_check.sh pack            # here: build with WGPU, pack into .gpu/
#   scripts/gpu_check.sh run [SECONDS]   # there, from the repository root
#
# `run` does the stages named in $STAGES (default `parity f16 update train`):
#   parity  flex against $DEVICE (default `wgpu:0`; tests/backend_parity.rs),
#           and somnium's fused kernels against their formulas
#           (tests/fused_kernels.rs)
#   update  a DreamerV3 update at the presets of $PRESETS (default xs,s) in
#           each float type of $PRECISIONS (default `f32 f16`)
#   unfused the same in f32 with somnium's fused kernels off
#           (SOMNIUM_FUSED_KERNELS=0), to time what they save
#   pixels  the same at $PIXEL_PRESETS (default s) on 84 x 84 frames (Atari's size)
#   search  MuZero's search with real networks (benches/search_real_networks.rs)
#   f16     tests/precision_f16.rs on the device: the tiny models, then
#           DreamerV3 at each preset of $F16_PRESETS (default xs)
#   train   the README's CartPole experiment until SECONDS (default 480)
#           have passed since the script began.
# Each stage prints the most GPU memory nvidia-smi saw while it ran. What
# it prints and the training metrics go to $OUT (default .gpu/out). Vulkan's
# loader must be installed there: `.deb` files in .gl/ are unpacked first if present.
set -uo pipefail
cd "$(dirname "$0")/.."
pack=.gpu/bins.tar.xz

if [ "${1:-}" = pack ]; then
    set -e
    cargo build --release --features wgpu --bin somnium --test backend_parity \
        --test fused_kernels --test precision_f16 --bench dreamer_update \
        --bench search_real_networks
    newest() { ls -t target/release/deps/"$1"-* | grep -v '\.d$' | head -1; }
    rm -rf .gpu/bins && mkdir -p .gpu/bins
    cp target/release/somnium .gpu/bins/
    cp "$(newest backend_parity)" .gpu/bins/backend_parity
    cp "$(newest fused_kernels)" .gpu/bins/fused_kernels
    cp "$(newest precision_f16)" .gpu/bins/precision_f16
    cp "$(newest dreamer_update)" .gpu/bins/dreamer_update
    cp "$(newest search_real_networks)" .gpu/bins/search_real_networks
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
# The 2026-11-28 machine found no adapter with the loader alone; with the
# glvnd libraries in .gl/ and NVIDIA's EGL vendor file named, it did.
egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
bins=/tmp/somnium-gpu-bins
mkdir -p $bins && tar -C $bins -xJf "$pack"
root=$(cat $bins/build_root)
[ -e "$root" ] || { mkdir -p "$(dirname "$root")" && ln -s "$PWD" "$root"; }

stages=" ${STAGES:-parity f16 update train} "
wants() { [[ $stages == *" $1 "* ]]; }
# Peak GPU memory while a command runs: nvidia-smi samples every 200 ms.
with_memory() {
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >/tmp/smi.$$ &
    local smi=$!
    "$@"
    kill $smi 2>/dev/null
    echo "   peak GPU memory: $(sort -n /tmp/smi.$$ | tail -1) MiB"
}
bench_update() { # precision presets [pixels]
    (cd /tmp && env SOMNIUM_BENCH_DEVICE=$device SOMNIUM_BENCH_SHARDS=1 SOMNIUM_BENCH_SECONDS=10 \
        SOMNIUM_BENCH_PRESETS=$2 SOMNIUM_BENCH_PRECISION=$1 ${3:+SOMNIUM_BENCH_PIXELS=$3} \
        timeout 150 $bins/dreamer_update --bench 2>&1 |
        grep -E "^dreamer|time:|panicked|Err|non-finite")
}

if wants parity; then
    stage "backend parity: flex against $device"
    SOMNIUM_PARITY_DEVICES=$device timeout 120 $bins/backend_parity --nocapture --test-threads 1 2>&1 |
        grep -E "parity|replica|test result|panicked"
    SOMNIUM_PARITY_DEVICES=$device timeout 60 $bins/fused_kernels --nocapture 2>&1 |
        grep -E "matches|test result|panicked|differ"
fi

if wants update; then
    for precision in ${PRECISIONS:-f32 f16}; do
        for preset in $(tr , ' ' <<<"${PRESETS:-xs,s}"); do
            stage "DreamerV3 update, $preset, $precision"
            with_memory bench_update "$precision" "$preset"
        done
    done
fi

if wants unfused; then
    for preset in $(tr , ' ' <<<"${PRESETS:-xs,s}"); do
        stage "DreamerV3 update, $preset, f32, somnium's fused kernels off"
        SOMNIUM_FUSED_KERNELS=0 with_memory bench_update f32 "$preset"
    done
fi

if wants pixels; then
    for preset in $(tr , ' ' <<<"${PIXEL_PRESETS:-s}"); do
        stage "DreamerV3 update, $preset, 84 x 84 frames, f32"
        with_memory bench_update f32 "$preset" 84
    done
fi

if wants search; then
    stage "MuZero search with real networks on $device"
    (cd /tmp && SOMNIUM_BENCH_DEVICE=$device timeout 150 $bins/search_real_networks --bench \
        --warm-up-time 2 --measurement-time 5 2>&1 | grep -E "^muzero|time:|thrpt:|panicked|Err")
fi

if wants f16; then
    f16_run() { # [preset]
        env SOMNIUM_F16_DEVICE=$device ${1:+SOMNIUM_F16_PRESET=$1} \
            timeout 150 $bins/precision_f16 --nocapture 2>&1 |
            grep -E "f16|panicked|test result|weights"
    }
    stage "f16 training on $device: the tiny models"
    with_memory f16_run
    for preset in $(tr , ' ' <<<"${F16_PRESETS:-xs}"); do
        stage "f16 training on $device: DreamerV3 at preset $preset"
        with_memory f16_run "$preset"
    done
fi

wants train || { stage end; exit 0; }
stage "CartPole (README experiment) on $device for $(left) s"
(sleep 60; nvidia-smi --query-gpu=utilization.gpu,memory.used,power.draw --format=csv) &
timeout "$(left)" $bins/somnium train experiments/dreamer/cartpole.toml --device "$device" \
    --set run.update_shards=1 --set run.eval_every=1000 --logdir /tmp/somnium-gpu-runs \
    >"$out/train.log" 2>&1
cp /tmp/somnium-gpu-runs/*/metrics.jsonl "$out/" 2>/dev/null
grep -h '"eval/return"' "$out/metrics.jsonl"
grep -h updates_per_s "$out/metrics.jsonl" | tail -1
stage end
