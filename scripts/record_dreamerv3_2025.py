"""Record the 2025 DreamerV3 code's own outputs on fixed inputs, for the
golden tests of the 2025 design's pieces (src/nn/laprop.rs,
src/nn/dist/binned.rs).

The 2025 code is not on PyPI; this runs it from a checkout of
danijar/dreamerv3 (its `embodied/jax` package) on inputs drawn from a
seeded NumPy generator and writes inputs and outputs to
tests/data/dreamerv3_2025.json:

- symexp twohot: the bins `Head.symexp_twohot` builds (255, mirrored about
  0) and `outs.TwoHot`'s `pred` and `loss` on fixed logits and targets,
  uniform logits included;
- the block GRU step: `RSSM._core` on random weights, inputs and the next
  deterministic state;
- the image encoder and decoder (`Encoder`, `Decoder` with `bspace`) on
  random weights, small: their features and reconstructions;
- LaProp: the optimiser chain of `Agent._make_opt` (AGC 0.3, RMS 0.999
  with eps 1e-20, momentum 0.9, the learning rate warmed up linearly) over
  five steps of fixed gradients on two tensors, one of them zero (AGC's
  `pmin`), and the learning rate of each step.

Its requirements install with:

    python3 -m venv /tmp/dv25
    /tmp/dv25/bin/pip install "jax[cpu]==0.4.33" ninjax elements einops \
        optax chex jaxtyping portal granular "numpy<2"
    git clone https://github.com/danijar/dreamerv3 /tmp/dreamerv3
    /tmp/dv25/bin/python scripts/record_dreamerv3_2025.py /tmp/dreamerv3
"""

import json
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import optax

root = Path(sys.argv[1]).resolve()
sys.path.insert(0, str(root))
from embodied.jax import nets, opt, outs  # noqa: E402

rng = np.random.default_rng(11)
out = {}


def floats(x):
    return np.asarray(x, dtype=np.float64).round(9).tolist()


# Symexp twohot, as `Head.symexp_twohot` (heads.py) builds its bins.
half = nets.symexp(jnp.linspace(-20, 0, 128, dtype=jnp.float32))
bins = jnp.concatenate([half, -half[:-1][::-1]], 0)
logits = np.concatenate(
    [rng.normal(size=(4, 255)) * 3, np.zeros((1, 255))], 0).astype(np.float32)
targets = np.array([0.0, 1.5, -37.0, 1234.5, 0.25], dtype=np.float32)
dist = outs.TwoHot(jnp.asarray(logits), bins)
out["symexp_twohot"] = {
    "bins": floats(bins),
    "logits": floats(logits),
    "targets": floats(targets),
    "pred": floats(dist.pred()),
    "loss": floats(dist.loss(jnp.asarray(targets))),
}

# LaProp with AGC, as `Agent._make_opt` chains it, warmup 3 at rate 0.01.
lr, warmup, steps = 0.01, 3, 5
chain = optax.chain(
    opt.clip_by_agc(0.3),
    opt.scale_by_rms(0.999, 1e-20),
    opt.scale_by_momentum(0.9, False),
    optax.scale_by_learning_rate(optax.join_schedules(
        [optax.linear_schedule(0.0, lr, warmup), optax.constant_schedule(lr)],
        [warmup])),
)
params = {
    "kernel": jnp.asarray(rng.normal(size=(2, 3)).astype(np.float32)),
    "bias": jnp.zeros((3,), jnp.float32),
}
initial = {k: floats(v) for k, v in params.items()}
state = chain.init(params)
grads, after, rates = [], [], []
for step in range(steps):
    # Every other step a gradient far larger than the weights, for AGC.
    scale = 10.0 if step % 2 == 0 else 0.1
    g = {k: jnp.asarray(rng.normal(size=v.shape).astype(np.float32) * scale)
         for k, v in params.items()}
    updates, state = chain.update(g, state, params)
    params = optax.apply_updates(params, updates)
    grads.append({k: floats(v) for k, v in g.items()})
    after.append({k: floats(v) for k, v in params.items()})
    rates.append(float(optax.join_schedules(
        [optax.linear_schedule(0.0, lr, warmup), optax.constant_schedule(lr)],
        [warmup])(step)))
out["laprop"] = {
    "lr": lr,
    "warmup": warmup,
    "initial": initial,
    "grads": grads,
    "after": after,
    "rates": rates,
}

# The block GRU step: `RSSM._core` (rssm.py) on random weights (biases and
# norm scales included) at deter 16, hidden 8, 4 x 3 latents, 4 blocks,
# SiLU, RMSNorm, computed in float32; its parameters in creation order.
import jax  # noqa: E402
import ninjax as nj  # noqa: E402
import elements  # noqa: E402
from dreamerv3 import rssm as rssmlib  # noqa: E402

nets.COMPUTE_DTYPE = jnp.float32
model = rssmlib.RSSM(
    {"action": elements.Space(np.float32, (2,), -1.0, 1.0)},
    deter=16, hidden=8, stoch=4, classes=3, blocks=4, act="silu", norm="rms",
    name="rssm")
core_deter = rng.normal(size=(3, 16)).astype(np.float32)
core_stoch = np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=(3, 4))]
core_action = rng.uniform(-1, 1, size=(3, 2)).astype(np.float32)


def core():
    return model._core(
        jnp.asarray(core_deter), jnp.asarray(core_stoch), jnp.asarray(core_action))


created, _ = nj.pure(core)({}, create=True, seed=0)
weights = {}
for name, value in created.items():
    noise = rng.normal(size=value.shape).astype(np.float32)
    weights[name] = jnp.asarray(1.0 + 0.1 * noise if name.endswith("scale") else 0.5 * noise)
_, core_out = nj.pure(core)(weights, seed=0)
out["block_gru_core"] = {
    "params": [{"name": k, "shape": list(v.shape), "values": floats(np.ravel(v))}
               for k, v in weights.items()],
    "deter": floats(core_deter),
    "stoch": floats(core_stoch.reshape(3, -1)),
    "action": floats(core_action),
    "next_deter": floats(core_out),
}

# The image encoder and decoder: `Encoder` and `Decoder` (rssm.py) with
# 5x5 replaced by 3x3 kernels, depth 2, multipliers (2, 3), on 16x16x3
# images, the decoder's `bspace` 2, units 8, RMSNorm, SiLU, on random
# weights. Parameters are written in the order and layout somnium's
# modules visit them (`nn::cnn_pooled`): each encoder convolution with its
# bias before the norms, convolution kernels from HWIO to OIHW.
img_space = {"image": elements.Space(np.uint8, (16, 16, 3), 0, 255)}
kw = dict(units=8, norm="rms", act="silu", depth=2, mults=(2, 3), layers=1, kernel=3)
encoder = rssmlib.Encoder(img_space, **kw, name="enc")
decoder = rssmlib.Decoder(img_space, **kw, bspace=2, name="dec")
images = rng.integers(0, 256, size=(2, 16, 16, 3)).astype(np.uint8)
dec_deter = rng.normal(size=(2, 16)).astype(np.float32)
dec_stoch = np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=(2, 4))]
reset = jnp.zeros((2,), bool)


def codec():
    _, _, tokens = encoder({}, {"image": jnp.asarray(images)}, reset, True, single=True)
    feat = {"deter": jnp.asarray(dec_deter), "stoch": jnp.asarray(dec_stoch)}
    _, _, recons = decoder({}, feat, reset, True, single=True)
    return tokens, recons["image"].pred()


created, _ = nj.pure(codec)({}, create=True, seed=0)
weights = {}
for name, value in created.items():
    noise = rng.normal(size=value.shape).astype(np.float32)
    weights[name] = jnp.asarray(1.0 + 0.1 * noise if name.endswith("scale") else 0.3 * noise)
_, (tokens, recon) = nj.pure(codec)(weights, seed=0)


def ours(names):
    listed = []
    for name in names:
        value = np.asarray(weights[name])
        if value.ndim == 4:  # HWIO -> OIHW
            value = value.transpose(3, 2, 0, 1)
        listed.append({"name": name, "shape": list(value.shape), "values": floats(np.ravel(value))})
    return listed


out["pooled_cnn"] = {
    "images": floats(images),
    "encoder_params": ours([
        "enc/cnn0/kernel", "enc/cnn0/bias", "enc/cnn1/kernel", "enc/cnn1/bias",
        "enc/cnn0norm/scale", "enc/cnn1norm/scale"]),
    "tokens": floats(tokens),
    "deter": floats(dec_deter),
    "stoch": floats(dec_stoch.reshape(2, -1)),
    "decoder_params": ours([
        "dec/sp0/kernel", "dec/sp0/bias", "dec/sp1/kernel", "dec/sp1/bias",
        "dec/sp1norm/scale", "dec/sp2/kernel", "dec/sp2/bias", "dec/spnorm/scale",
        "dec/conv0/kernel", "dec/conv0/bias", "dec/conv0norm/scale",
        "dec/imgout/kernel", "dec/imgout/bias"]),
    "reconstruction": floats(recon),
}
assert sorted(weights) == sorted(
    p["name"] for p in out["pooled_cnn"]["encoder_params"] + out["pooled_cnn"]["decoder_params"])

path = Path(__file__).resolve().parent.parent / "tests/data/dreamerv3_2025.json"
path.write_text(json.dumps(out, indent=1) + "\n")
print("wrote", path)
