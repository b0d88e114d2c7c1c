#!/usr/bin/env bash
# Lets `cargo build --features cuda` build without network access to the
# LLVM bundle that burn-cuda's compiler crate (cubecl-llvm, through
# tracel-llvm-bundler) otherwise downloads at build time.
#
#   scripts/cuda_llvm.sh            # as root, once per machine
#   CUDARC_CUDA_VERSION=13000 cargo build --release --features cuda
#
# It installs Debian's LLVM 22 (llvm-22-dev, with NVPTX and static
# libraries; libpolly because `llvm-config --libs` lists Polly) and lays
# out the bundle's directory as the bundler expects: lib/ and include/
# point into LLVM 22, bin/llvm-config forwards to LLVM 22's (turning the
# z3 library path it prints into -lz3, which the linker finds), and the
# bundler's marker file says the bundle is installed, so it downloads
# nothing. cubecl-llvm is written for LLVM 23 and links against 22 here:
# tests/backend_parity.rs on `cuda:0` is the check that it computes right.
# With network access at build time none of this is needed.
set -euo pipefail

bundle=tracel-llvm-23.1.0-4 # tracel-llvm-bundler 23.1.0-4, as Cargo.lock pins it
data=${XDG_DATA_HOME:-$HOME/.local/share}
dest=$data/tracel/$bundle

if ! command -v llvm-config-22 >/dev/null; then
    apt="env DEBIAN_FRONTEND=noninteractive apt-get"
    if [ "$(id -u)" != 0 ]; then apt="sudo $apt"; fi
    $apt install -y -qq --no-install-recommends llvm-22-dev libpolly-22-dev libzstd-dev \
        >/dev/null 2>&1 ||
        { $apt update -qq >/dev/null && $apt install -y -qq --no-install-recommends \
            llvm-22-dev libpolly-22-dev libzstd-dev >/dev/null; }
fi
llvm=$(llvm-config-22 --prefix)

mkdir -p "$dest/bin"
ln -sfn "$llvm/lib" "$dest/lib"
ln -sfn "$llvm/include" "$dest/include"
cat >"$dest/bin/llvm-config" <<WRAPPER
#!/bin/sh
out=\$("$llvm/bin/llvm-config" "\$@") || exit \$?
printf '%s\n' "\$out" | sed -e 's#[^ ]*/libz3\.so#-lz3#g'
WRAPPER
chmod +x "$dest/bin/llvm-config"
touch "$dest/.tracel-llvm-installed"
echo "LLVM $("$dest/bin/llvm-config" --version) stands in for $bundle at $dest"
