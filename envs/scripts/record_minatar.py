#!/usr/bin/env python3
"""Record MinAtar runs, random draws included, for somnium's conformance test.

For each game this builds minatar's own `Environment(game)` (sticky actions
0.1, difficulty ramping on, all six actions: the `-v0` ids), seeds it once,
and replaces its numpy `RandomState` (shared by the sticky-action wrapper and
the game) with a proxy that logs every draw: its kind, its arguments and the
values returned. It then plays several episodes in a row from that one seed
(as `gymnasium.make(id)` followed by `reset(seed)` and then `reset()` does),
with actions from a separate, fixed-seed policy generator, and writes per
episode the draws made by `reset`, the initial state, and per step the action,
the draws made during the step (the sticky-action draw first), the reward,
the terminal flag and the state after the step, to
`envs/tests/data/minatar_<game>.json`.

States are the game's 10x10xC boolean grid, flattened in HWC order and packed
with `numpy.packbits` (most significant bit first, zero-padded), as hex.
Floats are written with Python's round-trip `repr`.

Draws are encoded as short lists:
    ["u", value]                     rand()
    ["i", low, high, value]          randint(low, high)
    ["un", n, [values]]              rand(n)
    ["in", low, high, n, [values]]   randint(low, high, n)

`envs/tests/minatar_conformance.rs` feeds these draws to the Rust games and
requires every step's state, reward and terminal flag to agree.

Usage (from the repository root):
    pip install minatar==1.0.15
    python envs/scripts/record_minatar.py
"""

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
from minatar import Environment

OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "data"
MINATAR_VERSION = "1.0.15"


class LoggingRandom:
    """A RandomState proxy that logs the draws MinAtar makes."""

    def __init__(self, random_state):
        self._rs = random_state
        self.log = []

    def rand(self, *size):
        values = self._rs.rand(*size)
        if size:
            (n,) = size
            self.log.append(["un", n, [float(v) for v in values]])
        else:
            self.log.append(["u", float(values)])
        return values

    def randint(self, low, high=None, size=None):
        values = self._rs.randint(low, high, size)
        lo, hi = (0, low) if high is None else (low, high)
        if size is None:
            self.log.append(["i", int(lo), int(hi), int(values)])
        else:
            self.log.append(["in", int(lo), int(hi), int(size), [int(v) for v in values]])
        return values

    def __getattr__(self, name):
        raise AttributeError(f"MinAtar used RandomState.{name}, which is not logged")

    def take(self):
        out, self.log = self.log, []
        return out


def state_hex(env):
    state = np.asarray(env.state(), dtype=np.uint8).flatten()
    return np.packbits(state).tobytes().hex()


def uniform_policy(rng, _t, _game):
    return int(rng.randint(6))


def breakout_policy(rng, _t, game):
    # Mostly move the paddle to where a falling ball will land, so that
    # episodes last and bricks run out; random otherwise.
    if rng.rand() < 0.1:
        return int(rng.randint(6))
    x, dx = game.ball_x, (-1 if game.ball_dir in (0, 3) else 1)
    for _ in range(9 - game.ball_y):
        x += dx
        if x < 0 or x > 9:
            x, dx = min(max(x, 0), 9), -dx
    if x < game.pos:
        return 1
    return 3 if x > game.pos else 0


def freeway_policy(rng, _t, _game):
    # Mostly up, so that the chicken crosses and scores now and then.
    return 2 if rng.rand() < 0.6 else int(rng.randint(6))


def space_invaders_policy(rng, _t, game):
    # Step out from under enemy bullets, otherwise mostly line up under the
    # nearest alien and fire, so that waves get cleared and the difficulty
    # ramps.
    if game.e_bullet_map[4:9, game.pos].any() and rng.rand() < 0.9:
        return 1 if game.pos > 0 and (game.pos == 9 or rng.rand() < 0.5) else 3
    if rng.rand() < 0.2:
        return int(rng.randint(6))
    columns = [c for c in range(10) if game.alien_map[:, c].any()]
    target = min(columns, key=lambda c: abs(c - game.pos))
    if target < game.pos:
        return 1
    return 3 if target > game.pos else 5


def seaquest_policy(rng, t, game):
    # Random below the surface, rising to surface when carrying divers
    # (every 50 steps, or when oxygen runs low), so that surfacing with and
    # without divers is exercised.
    if game.diver_count > 0 and (t % 50 >= 38 or game.oxygen < 25):
        return 2
    action = int(rng.randint(6))
    if action == 2 and game.sub_y <= 1 and rng.rand() < 0.9:
        action = 4
    return action


def asterix_policy(rng, _t, game):
    # Random among the moves that do not step next to an enemy, so that
    # episodes outlast the difficulty ramp.
    moves = {0: (0, 0), 1: (-1, 0), 2: (0, -1), 3: (1, 0), 4: (0, 1)}
    safe = []
    for action, (dx, dy) in moves.items():
        x = min(max(game.player_x + dx, 0), 9)
        y = min(max(game.player_y + dy, 1), 8)
        if not any(e is not None and not e[3] and e[1] == y and abs(e[0] - x) <= 2
                   for e in game.entities):
            safe.append(action)
    if not safe or rng.rand() < 0.1:
        return int(rng.randint(6))
    return safe[rng.randint(len(safe))]


# (game, seed, policy, [max steps of each episode])
PLANS = [
    ("breakout", 0, breakout_policy, [1000] * 6),
    ("freeway", 1, freeway_policy, [3000, 300]),
    ("asterix", 2, asterix_policy, [600] * 6),
    ("space_invaders", 3, space_invaders_policy, [1000] * 6),
    ("seaquest", 4, seaquest_policy, [1000] * 10),
]


def record(game, seed, policy, limits):
    env = Environment(game)  # sticky_action_prob=0.1, difficulty_ramping=True
    env.seed(seed)
    log = LoggingRandom(env.random)
    env.random = log
    env.env.random = log
    policy_rng = np.random.RandomState(1000 + seed)
    episodes = []
    for limit in limits:
        env.reset()
        episode = {
            "reset_draws": log.take(),
            "initial_state": state_hex(env),
            "actions": [],
            "draws": [],
            "rewards": [],
            "terminals": [],
            "states": [],
        }
        for t in range(limit):
            action = policy(policy_rng, t, env.env)
            reward, terminal = env.act(action)
            episode["actions"].append(action)
            episode["draws"].append(log.take())
            episode["rewards"].append(int(reward))
            episode["terminals"].append(bool(terminal))
            episode["states"].append(state_hex(env))
            if terminal:
                break
        episode["difficulty_ramp"] = env.env.difficulty_ramp()
        episodes.append(episode)
    return {
        "game": game,
        "minatar_version": version("minatar"),
        "seed": seed,
        "sticky_action_prob": env.sticky_action_prob,
        "difficulty_ramping": True,
        "channels": env.state_shape()[2],
        "episodes": episodes,
    }


def main():
    assert version("minatar") == MINATAR_VERSION, version("minatar")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for game, seed, policy, limits in PLANS:
        data = record(game, seed, policy, limits)
        path = OUT_DIR / f"minatar_{game}.json"
        path.write_text(json.dumps(data, separators=(",", ":")) + "\n")
        eps = data["episodes"]
        steps = sum(len(e["actions"]) for e in eps)
        ended = sum(e["terminals"][-1] for e in eps if e["terminals"])
        returns = [sum(e["rewards"]) for e in eps]
        ramps = [e["difficulty_ramp"] for e in eps]
        print(f"{path.name}: {len(eps)} episodes ({ended} to the end), "
              f"{steps} steps, returns {returns}, final ramp levels {ramps}, "
              f"{path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
