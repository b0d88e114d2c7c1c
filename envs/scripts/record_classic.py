#!/usr/bin/env python3
"""Record Gymnasium classic-control trajectories for somnium's conformance test.

For each environment this resets `gymnasium.make(id)` with fixed seeds, plays
a fixed mix of random and scripted episodes (scripted ones reach termination,
long ones reach the time limit), and writes, per episode, the initial internal
state (`env.unwrapped.state`) and per step the action, observation, reward,
terminated and truncated flags and the internal state after the step, to
`envs/tests/data/classic_<name>.json`. `envs/tests/classic_conformance.rs`
sets the same initial states on the Rust environments and replays the actions.

Float64 values are written with Python's round-trip `repr`; float32 values
(observations, Pendulum torques) with numpy's shortest float32 repr, which
parses back to the same float32.

Usage (from the repository root):
    pip install gymnasium==1.4.0
    python envs/scripts/record_classic.py
"""

import json
import math
from pathlib import Path

import gymnasium as gym
import numpy as np

OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "data"


def f32(x):
    """A float32 as the shortest decimal that parses back to it."""
    return float(str(np.float32(x)))


def cartpole_balance(obs, _rng):
    _, _, theta, theta_dot = obs
    return int(theta + 0.5 * theta_dot > 0)


def acrobot_pump(obs, _rng):
    # Torque along the second joint's velocity pumps energy into the chain.
    return 2 if obs[5] > 0 else 0


def mountain_car_rock(obs, _rng):
    return 2 if obs[1] >= 0 else 0


def random_discrete(n):
    return lambda _obs, rng: int(rng.integers(n))


def random_torque(_obs, rng):
    # Slightly beyond [-2, 2] so that clipping is exercised.
    return np.float32(rng.uniform(-2.5, 2.5))


# (file name, env id, [(seed, policy, max steps or None for a full episode)])
PLANS = [
    ("cartpole", "CartPole-v1", [
        (0, random_discrete(2), None),
        (1, random_discrete(2), None),
        (2, random_discrete(2), None),
        (3, cartpole_balance, None),  # Balances until the 500-step limit.
    ]),
    ("pendulum", "Pendulum-v1", [
        (0, random_torque, None),  # Truncated at 200.
        (1, random_torque, 120),
    ]),
    ("acrobot", "Acrobot-v1", [
        (0, acrobot_pump, None),  # Terminates.
        (1, random_discrete(3), None),  # Usually truncated at 500.
    ]),
    ("mountain_car", "MountainCar-v0", [
        (0, random_discrete(3), None),  # Truncated at 200.
        (1, mountain_car_rock, None),  # Terminates.
    ]),
]


def state_list(env):
    return [float(v) for v in np.asarray(env.unwrapped.state, dtype=np.float64)]


def record_episode(env, seed, policy, max_steps):
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    episode = {"seed": seed, "initial_state": state_list(env), "actions": [], "obs": [],
               "rewards": [], "terminated": [], "truncated": [], "states": []}
    while max_steps is None or len(episode["actions"]) < max_steps:
        action = policy(obs, rng)
        if isinstance(action, np.floating):
            obs, reward, terminated, truncated, _ = env.step(np.array([action], dtype=np.float32))
            episode["actions"].append(f32(action))
        else:
            obs, reward, terminated, truncated, _ = env.step(action)
            episode["actions"].append(int(action))
        episode["obs"].append([f32(v) for v in obs])
        episode["rewards"].append(float(reward))
        episode["terminated"].append(bool(terminated))
        episode["truncated"].append(bool(truncated))
        episode["states"].append(state_list(env))
        if terminated or truncated:
            break
    return episode


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, env_id, plan in PLANS:
        env = gym.make(env_id)
        episodes = [record_episode(env, seed, policy, max_steps) for seed, policy, max_steps in plan]
        env.close()
        data = {"env_id": env_id, "gymnasium_version": gym.__version__, "episodes": episodes}
        path = OUT_DIR / f"classic_{name}.json"
        path.write_text(json.dumps(data, separators=(",", ":"), allow_nan=False) + "\n")
        summary = ", ".join(
            f"{len(e['actions'])} steps ({'terminated' if e['terminated'][-1] else 'truncated' if e['truncated'][-1] else 'cut'})"
            for e in episodes
        )
        print(f"{path.name}: {path.stat().st_size // 1024} KiB; {summary}")
        assert all(math.isfinite(r) for e in episodes for r in e["rewards"])


if __name__ == "__main__":
    main()
