#!/usr/bin/env python3
"""Steps per second of the Python `minatar` package, for comparison with
`cargo bench -p somnium-envs --bench env_throughput` (docs/environments.md).

Each game runs one `minatar.Environment` (sticky actions 0.1, ramping on, as
somnium's defaults) under uniformly random actions drawn in advance, resetting
at episode ends, which is the loop the Rust benchmark times.

Usage: pip install minatar==1.0.15 && python envs/scripts/minatar_throughput.py
"""

import time

import numpy as np
from minatar import Environment

GAMES = ["asterix", "breakout", "freeway", "seaquest", "space_invaders"]
STEPS = 50_000


def rate(game):
    env = Environment(game)
    env.seed(0)
    actions = np.random.default_rng(0).integers(0, 6, size=STEPS)
    env.reset()
    start = time.perf_counter()
    for a in actions:
        _, done = env.act(int(a))
        env.state()  # the observation an agent would read
        if done:
            env.reset()
    return STEPS / (time.perf_counter() - start)


if __name__ == "__main__":
    for game in GAMES:
        print(f"{game:<16} {rate(game):>10.0f} steps/s")
