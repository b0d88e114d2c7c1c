"""Record DreamerV3's own outputs on fixed inputs, for tests/golden_dreamerv3.rs.

Runs the reference code of the `dreamerv3` package (Hafner et al., PyPI
release 1.5.0, the 2023 design) on inputs drawn from a seeded NumPy
generator, and writes inputs and outputs to tests/data/dreamerv3_2023.json:

- lambda-returns: `VFunction.score` (agent.py), with the continuation
  both as 0/1 (the continue head's mode) and as probabilities;
- return normalisation: `jaxutils.Moments(impl='perc_ema')` with the
  2023 config (`retnorm: {decay: 0.99, max: 1.0, perclo: 5, perchi: 95}`)
  over three batches, its offset and scale after each;
- twohot: `jaxutils.DiscDist` over 255 symlog bins in [-20, 20], its
  `log_prob` and `mean`;
- KL balancing with free bits: `RSSM.dyn_loss` and `RSSM.rep_loss`
  (nets.py) on unimix categoricals, free nats 1 and 0;
- the actor's loss: `ImagActorCritic.loss` (agent.py) with reinforce and
  with backprop gradients, on a fixed trajectory and unimix policy, with
  the policy's log-probabilities and entropies and the trajectory weights;
- the critic's loss: `VFunction.loss` with the slow critic's regulariser
  (`critic_slowreg: logprob`) on fixed logits, returns and weights.

The package's own requirements no longer install together; this works:

    python3 -m venv /tmp/dv3 && . /tmp/dv3/bin/activate
    pip install "jax[cpu]==0.4.30" "tensorflow-probability==0.24.0" \
        "optax==0.2.2" cloudpickle ruamel.yaml rich
    pip download dreamerv3==1.5.0 --no-deps && tar xzf dreamerv3-1.5.0.tar.gz
    python scripts/record_dreamerv3.py dreamerv3-1.5.0
"""

import json
import sys
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

root = Path(sys.argv[1]).resolve()
sys.path.insert(0, str(root))
sys.path.insert(0, str(root / "dreamerv3"))  # for its bundled `embodied`
# Import the package's modules without running its __init__ (which starts
# the whole training stack).
package = types.ModuleType("dreamerv3")
package.__path__ = [str(root / "dreamerv3")]
sys.modules["dreamerv3"] = package
from dreamerv3 import agent, jaxutils, nets  # noqa: E402
from dreamerv3 import ninjax as nj  # noqa: E402

rng = np.random.default_rng(7)
out = {}


def floats(x):
    return np.asarray(x, dtype=np.float64).round(7).tolist()


# Lambda-returns. Time-major [H + 1, N] as the reference keeps them.
H, N = 6, 4
reward = rng.normal(size=(H + 1, N)).astype(np.float32)
value = rng.normal(size=(H + 1, N)).astype(np.float32) * 3
probability = rng.uniform(0.05, 1.0, size=(H + 1, N)).astype(np.float32)
mode = (probability > 0.5).astype(np.float32)
config = types.SimpleNamespace(horizon=333, return_lambda=0.95)
returns = {}
for name, cont in [("mode", mode), ("probability", probability)]:
    traj = {
        "reward": jnp.asarray(reward),
        "value": jnp.asarray(value),
        "cont": jnp.asarray(cont),
        "action": jnp.zeros((H + 1, N, 1)),
    }
    critic = types.SimpleNamespace(
        rewfn=lambda t: t["reward"][1:],
        config=config,
        net=lambda t: types.SimpleNamespace(mean=lambda: t["value"]),
    )
    # The unscoped method: the stand-in critic is not a ninjax module.
    _, ret, _ = agent.VFunction.score.__wrapped__(critic, traj)
    returns[name] = {"continues": floats(cont), "returns": floats(ret)}
out["lambda_returns"] = {
    "discount": 1 - 1 / config.horizon,
    "lambda": config.return_lambda,
    "rewards": floats(reward),
    "values": floats(value),
    **returns,
}

# Return normalisation over three batches.
batches = [rng.normal(loc=m, scale=s, size=64).astype(np.float32)
           for m, s in [(5.0, 300.0), (-200.0, 1000.0), (4000.0, 5.0)]]


def normalise(x):
    return jaxutils.Moments(
        impl="perc_ema", decay=0.99, max=1.0, perclo=5.0, perchi=95.0,
        name="retnorm")(x)


state = {}
stats = []
for batch in batches:
    (offset, scale), state = nj.pure(normalise)(
        state, jax.random.PRNGKey(0), jnp.asarray(batch))
    stats.append({"offset": float(offset), "scale": float(scale)})
out["return_normalizer"] = {"batches": [floats(b) for b in batches], "after": stats}

# Twohot over 255 symlog bins.
logits = rng.normal(size=(5, 255)).astype(np.float32)
targets = np.array([0.0, 1.5, -37.0, 1234.5, 3e9], dtype=np.float32)
dist = jaxutils.DiscDist(jnp.asarray(logits), low=-20, high=20)
out["twohot"] = {
    "logits": floats(logits),
    "targets": floats(targets),
    "log_prob": floats(dist.log_prob(jnp.asarray(targets))),
    "mean": floats(dist.mean()),
}

# KL balancing with free bits on 1%-unimix categoricals, [B, S, K].
B, S, K = 3, 4, 5


def unimix_log_probs(raw):
    probs = jax.nn.softmax(raw, -1)
    probs = 0.99 * probs + 0.01 / K
    return jnp.log(probs)


post = unimix_log_probs(jnp.asarray(rng.normal(size=(B, S, K)) * 2, jnp.float32))
prior = unimix_log_probs(jnp.asarray(rng.normal(size=(B, S, K)) * 2, jnp.float32))
rssm = types.SimpleNamespace(_classes=K)
rssm.get_dist = lambda state, argmax=False: nets.RSSM.get_dist.__wrapped__(rssm, state)
kl = {}
for free in [1.0, 0.0]:
    kl[str(free)] = {
        "dynamics": floats(nets.RSSM.dyn_loss.__wrapped__(rssm, {"logit": post}, {"logit": prior}, free=free)),
        "representation": floats(nets.RSSM.rep_loss.__wrapped__(rssm, {"logit": post}, {"logit": prior}, free=free)),
    }
out["kl"] = {"post_log_probs": floats(post), "prior_log_probs": floats(prior), "free": kl}

# The actor's loss: `ImagActorCritic.loss` (agent.py) on a fixed imagined
# trajectory, time-major [H + 1, N], with a stand-in critic whose network
# gives fixed values (its `score` is the reference's own) and a stand-in
# actor giving the reference's 1%-unimix one-hot policy from fixed logits;
# the trajectory's weights are the reference's `imagine`'s, cumprod(disc *
# cont) / disc. Both gradient estimators: reinforce (discrete actions'
# default) and backprop, at the 2023 actent 3e-4.
H, N, A = 5, 3, 4
act_logits = rng.normal(size=(H + 1, N, A)).astype(np.float32) * 2
act_index = rng.integers(0, A, size=(H + 1, N))
act_onehot = np.eye(A, dtype=np.float32)[act_index]
act_reward = rng.normal(size=(H + 1, N)).astype(np.float32)
act_value = rng.normal(size=(H + 1, N)).astype(np.float32) * 2
act_cont = (rng.uniform(size=(H + 1, N)) > 0.2).astype(np.float32)
act_cont[0] = 1.0
disc = 1 - 1 / 333


def unimix_policy(logits):
    probs = 0.99 * jax.nn.softmax(logits, -1) + 0.01 / A
    dist = jaxutils.OneHotDist(jnp.log(probs))
    dist.minent, dist.maxent = 0.0, np.log(A)
    return dist


def actor_loss(grad):
    traj = {
        "reward": jnp.asarray(act_reward),
        "value": jnp.asarray(act_value),
        "cont": jnp.asarray(act_cont),
        "action": jnp.asarray(act_onehot),
        "weight": jnp.cumprod(disc * jnp.asarray(act_cont), 0) / disc,
    }
    critic_config = types.SimpleNamespace(horizon=333, return_lambda=0.95)
    critic = types.SimpleNamespace(
        rewfn=lambda t: t["reward"][1:],
        config=critic_config,
        net=lambda t: types.SimpleNamespace(mean=lambda: t["value"]),
    )
    critic.score = lambda t, actor: agent.VFunction.score.__wrapped__(critic, t)
    this = types.SimpleNamespace(
        critics={"critic": critic},
        scales={"critic": 1.0},
        retnorms={"critic": jaxutils.Moments(
            impl="perc_ema", decay=0.99, max=1.0, perclo=5.0, perchi=95.0,
            name="retnorm_actor")},
        actor=lambda t: unimix_policy(jnp.asarray(act_logits)),
        grad=grad,
        act_space=types.SimpleNamespace(discrete=True),
        config=types.SimpleNamespace(
            actent=3e-4, loss_scales=types.SimpleNamespace(actor=1.0)),
    )
    this._metrics = lambda *a: agent.ImagActorCritic._metrics.__wrapped__(this, *a)
    loss, _ = agent.ImagActorCritic.loss.__wrapped__(this, traj)
    return loss, traj["weight"]


actor = {}
for grad in ["reinforce", "backprop"]:
    (loss, weight), _ = nj.pure(lambda: actor_loss(grad))({}, jax.random.PRNGKey(0))
    actor[grad] = float(loss)
policy = unimix_policy(jnp.asarray(act_logits))
out["actor_loss"] = {
    "discount": disc,
    "lambda": 0.95,
    "entropy_scale": 3e-4,
    "logits": floats(act_logits),
    "actions": floats(act_onehot),
    "rewards": floats(act_reward),
    "values": floats(act_value),
    "continues": floats(act_cont),
    "weights": floats(weight),
    "log_prob": floats(policy.log_prob(jnp.asarray(act_onehot))),
    "entropy": floats(policy.entropy()),
    "loss": actor,
}

# The critic's loss: `VFunction.loss` (agent.py) with the 2023 config's
# `critic_slowreg: logprob` (the slow critic's mean as a second twohot
# target) and loss scales slowreg 1, critic 1, on fixed critic and slow
# critic logits over the 255 bins, returns and trajectory weights, [H, N].
crit_logits = rng.normal(size=(H, N, 255)).astype(np.float32) * 2
slow_logits = rng.normal(size=(H, N, 255)).astype(np.float32) * 2
crit_target = (rng.normal(size=(H, N)) * 5).astype(np.float32)
crit_weight = (np.cumprod(disc * act_cont, 0) / disc).astype(np.float32)


def critic_loss():
    this = types.SimpleNamespace(
        net=lambda t: jaxutils.DiscDist(jnp.asarray(crit_logits), low=-20, high=20),
        slow=lambda t: jaxutils.DiscDist(jnp.asarray(slow_logits), low=-20, high=20),
        config=types.SimpleNamespace(
            critic_slowreg="logprob",
            loss_scales=types.SimpleNamespace(slowreg=1.0, critic=1.0)),
    )
    traj = {"weight": jnp.asarray(crit_weight)}  # [H + 1, N]; the loss drops the last
    loss, _ = agent.VFunction.loss.__wrapped__(this, traj, jnp.asarray(crit_target))
    return loss


out["critic_loss"] = {
    "logits": floats(crit_logits),
    "slow_logits": floats(slow_logits),
    "targets": floats(crit_target),
    "weights": floats(crit_weight[:-1]),
    "slow_mean": floats(jaxutils.DiscDist(jnp.asarray(slow_logits), low=-20, high=20).mean()),
    "loss": float(nj.pure(critic_loss)({}, jax.random.PRNGKey(0))[0]),
}

path = Path(__file__).resolve().parent.parent / "tests/data/dreamerv3_2023.json"
path.write_text(json.dumps(out, indent=1) + "\n")
print("wrote", path)
