"""Record mctx search results on a deterministic toy model, for tests/search_mctx.rs.

The toy model is defined by integer arithmetic on a state id so that the
Rust test can rebuild it exactly (see `ToyModel` in tests/search_mctx.rs):

    next(s, a)     = (s * 31 + a * 7 + 3) mod 1009
    reward(s, a)   = ((s * 7 + a * 13) mod 11) / 10 - 0.5
    discount(s, a) = 0 if next(s, a) mod 13 == 0 else 0.9
    value(s)       = ((s * 5) mod 17) / 17 - 0.3
    logits(s)[a]   = ((s + a * 3) mod 5) / 2

Run:  pip install mctx==0.0.71 jax==0.10.2 && python scripts/record_mctx.py
"""

import json

import jax
import jax.numpy as jnp
import mctx
import numpy as np

ACTIONS = 4
BATCH = 3
ROOT_STATES = [1, 42, 500]


def next_state(s, a):
    return (s * 31 + a * 7 + 3) % 1009


def reward(s, a):
    return ((s * 7 + a * 13) % 11).astype(jnp.float32) / 10.0 - 0.5


def value(s):
    return ((s * 5) % 17).astype(jnp.float32) / 17.0 - 0.3


def logits(s):
    a = jnp.arange(ACTIONS)
    return ((s[:, None] + a[None, :] * 3) % 5).astype(jnp.float32) / 2.0


def recurrent_fn(params, rng_key, action, embedding):
    del params, rng_key
    s = embedding
    nxt = next_state(s, action)
    out = mctx.RecurrentFnOutput(
        reward=reward(s, action),
        discount=jnp.where(nxt % 13 == 0, 0.0, 0.9).astype(jnp.float32),
        prior_logits=logits(nxt),
        value=value(nxt),
    )
    return out, nxt


def root():
    s = jnp.array(ROOT_STATES, dtype=jnp.int32)
    return mctx.RootFnOutput(prior_logits=logits(s), value=value(s), embedding=s)


def summarise(output):
    tree = output.search_tree
    return {
        "action": np.asarray(output.action).tolist(),
        "action_weights": np.asarray(output.action_weights).tolist(),
        "root_value": np.asarray(tree.node_values[:, 0]).tolist(),
        "visit_counts": np.asarray(tree.children_visits[:, 0]).tolist(),
        "node_visits": np.asarray(tree.node_visits).tolist(),
        "node_values": np.asarray(tree.node_values).tolist(),
    }


def main():
    cases = []
    for simulations, max_depth in [(8, None), (32, None), (32, 3)]:
        out = mctx.muzero_policy(
            params=(),
            rng_key=jax.random.PRNGKey(0),
            root=root(),
            recurrent_fn=recurrent_fn,
            num_simulations=simulations,
            max_depth=max_depth,
            dirichlet_fraction=0.0,
            temperature=1.0,
        )
        cases.append({"kind": "puct", "simulations": simulations,
                      "max_depth": max_depth or 0, "gumbel": [], **summarise(out)})
    for simulations, considered, scale in [(4, 4, 1.0), (16, 4, 1.0), (32, 2, 0.0), (50, 16, 1.0)]:
        rng = jax.random.PRNGKey(simulations)
        # gumbel_muzero_policy splits its key once and draws the Gumbel noise
        # from the second half; draw the same noise here to record it.
        _, gumbel_rng = jax.random.split(rng)
        gumbel = scale * jax.random.gumbel(gumbel_rng, (BATCH, ACTIONS), jnp.float32)
        out = mctx.gumbel_muzero_policy(
            params=(),
            rng_key=rng,
            root=root(),
            recurrent_fn=recurrent_fn,
            num_simulations=simulations,
            max_num_considered_actions=considered,
            gumbel_scale=scale,
        )
        cases.append({"kind": "gumbel", "simulations": simulations, "max_depth": 0,
                      "max_considered_actions": considered,
                      "gumbel": np.asarray(gumbel).reshape(-1).tolist(), **summarise(out)})
    data = {"mctx_version": mctx.__version__, "jax_version": jax.__version__,
            "actions": ACTIONS, "root_states": ROOT_STATES, "cases": cases}
    with open("tests/data/mctx_search.json", "w") as f:
        json.dump(data, f)
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
