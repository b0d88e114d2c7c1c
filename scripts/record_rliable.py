"""Record reference values from `rliable` (Agarwal et al. 2021, "Deep RL at the
Edge of the Statistical Precipice") for the Rust port of its statistics.

For a few fixed score matrices (runs x tasks, human-normalised-like scores in
[0, 2], written into the output so the Rust test reads its inputs from there)
this records:

  * point estimates: aggregate_mean, aggregate_median, aggregate_iqm,
    aggregate_optimality_gap (gamma = 1);
  * 95% percentile stratified-bootstrap intervals from
    `library.get_interval_estimates` (task_bootstrap=False) for each of the four
    aggregates, with the bootstrap distribution's standard deviation and the
    interval from a second seed, so a test with its own RNG can choose a
    tolerance;
  * performance profiles at fixed thresholds tau: the run-score distribution
    (`library.score_distributions`, strict `score > tau` over all runs x tasks),
    the average-score distribution (`library.average_score_distributions`,
    strict `task mean > tau`) and the run-score distribution's bootstrap
    interval from `library.create_performance_profile`.

rliable's bootstrap draws from numpy's global RNG (`np.random.choice`), so
each call below is preceded by `np.random.seed(SEED)` and is reproducible
with the pinned versions.

Run, in a venv with rliable==1.2.0 (arch 7.2.0 needs pandas<3):

    python3 -m venv /tmp/rliable/venv
    /tmp/rliable/venv/bin/pip install rliable==1.2.0 arch==7.2.0 "pandas<3"
    /tmp/rliable/venv/bin/python scripts/record_rliable.py > tests/data/rliable.json
"""

import json
import platform
import sys
from importlib import metadata

import numpy as np
from rliable import library as rly
from rliable import metrics

REPS = 50000
PROFILE_REPS = 20000
CONFIDENCE = 0.95
GAMMA = 1.0
SEED = 20211  # np.random.seed before every bootstrap
ALT_SEED = 7  # second seed, to show the Monte Carlo spread of the intervals
COMMON_TAUS = [-0.1, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0]

AGGREGATES = {
    "mean": metrics.aggregate_mean,
    "median": metrics.aggregate_median,
    "iqm": metrics.aggregate_iqm,
    "optimality_gap": lambda s: metrics.aggregate_optimality_gap(s, gamma=GAMMA),
}


def matrices():
    """The fixed score matrices, shape (num_runs, num_tasks)."""
    cases = []

    # (a) 5 runs x 3 tasks, hand-written: exact 0.0 and 1.0, a tie across
    # tasks (0.8 twice), scores above gamma, 15 values (IQM cuts 3 per end).
    a = np.array(
        [
            [0.0, 1.2, 0.35],
            [0.5, 1.0, 0.8],
            [0.25, 1.75, 0.6],
            [0.8, 0.9, 0.1],
            [1.1, 1.4, 0.45],
        ]
    )
    cases.append(("a_5x3", a, [0.35, 0.8, 1.75]))

    # (b) 7 runs x 4 tasks from a seeded RNG, rounded to 3 decimals
    # (28 values: IQM cuts 7 per end and keeps 14).
    rng = np.random.default_rng(1234)
    b = np.round(rng.gamma(shape=2.0, scale=0.4, size=(7, 4)), 3)
    b = np.clip(b, 0.0, 2.0)
    cases.append(("b_7x4", b, sorted({float(b[0, 0]), float(b[3, 2]), float(b.max())})))

    # (c) 10 runs x 1 task (10 values: IQM cuts int(2.5) = 2 per end, keeps 6).
    c = np.array([[0.12], [0.95], [0.4], [1.3], [0.4], [0.77], [1.05], [0.2], [1.6], [0.66]])
    cases.append(("c_10x1", c, [0.4, 0.95, 1.6]))

    # (d) 9 runs x 3 tasks from a seeded RNG, rounded to 2 decimals so there
    # are ties (27 values: IQM cuts int(6.75) = 6 per end, keeps 15).
    rng = np.random.default_rng(99)
    d = np.round(rng.uniform(0.0, 1.8, size=(9, 3)), 2)
    cases.append(("d_9x3", d, sorted({float(d[0, 1]), float(d[4, 0]), float(d.min())})))
    return cases


def interval(scores, func, seed, reps):
    """get_interval_estimates for one aggregate; also returns the bootstrap
    replicates (the last `reps` calls of func: before them come the point
    estimate and arch's own base evaluation)."""
    calls = []

    def wrapped(x):
        v = float(func(x))
        calls.append(v)
        return np.array([v])

    np.random.seed(seed)
    point, ci = rly.get_interval_estimates(
        {"x": scores},
        wrapped,
        method="percentile",
        task_bootstrap=False,
        reps=reps,
        confidence_interval_size=CONFIDENCE,
    )
    replicates = np.array(calls[-reps:])
    assert len(calls) == reps + 2
    return float(point["x"][0]), float(ci["x"][0, 0]), float(ci["x"][1, 0]), replicates


def record_case(name, scores, extra_taus):
    n = scores.size
    cut = int(0.25 * n)
    case = {
        "name": name,
        "num_runs": int(scores.shape[0]),
        "num_tasks": int(scores.shape[1]),
        "scores": scores.tolist(),
        "iqm_trim": {"n": n, "cut_each_end": cut, "kept": n - 2 * cut},
        "point": {},
        "interval": {},
    }
    for key, func in AGGREGATES.items():
        point_direct = float(func(scores))
        point, lo, hi, reps = interval(scores, func, SEED, REPS)
        assert point == point_direct
        _, lo2, hi2, _ = interval(scores, func, ALT_SEED, REPS)
        case["point"][key] = point
        case["interval"][key] = {
            "lower": lo,
            "upper": hi,
            "bootstrap_mean": float(reps.mean()),
            "bootstrap_sd": float(reps.std()),
            "alt_seed_lower": lo2,
            "alt_seed_upper": hi2,
        }

    taus = sorted(set(COMMON_TAUS) | set(extra_taus))
    np.random.seed(SEED)
    profiles, profile_cis = rly.create_performance_profile(
        {"x": scores},
        taus,
        use_score_distribution=True,
        method="percentile",
        task_bootstrap=False,
        reps=PROFILE_REPS,
        confidence_interval_size=CONFIDENCE,
    )
    run_dist = rly.score_distributions(scores, taus)
    assert np.array_equal(run_dist, profiles["x"])
    case["profile"] = {
        "tau": taus,
        "run_score_distribution": [float(v) for v in run_dist],
        "average_score_distribution": [
            float(v) for v in rly.average_score_distributions(scores, taus)
        ],
        "run_score_distribution_ci": {
            "lower": [float(v) for v in profile_cis["x"][0]],
            "upper": [float(v) for v in profile_cis["x"][1]],
        },
    }
    return case


ABOUT = {
    "what": "Reference values from rliable (Agarwal et al. 2021) recorded by "
    "scripts/record_rliable.py; see its docstring for how to rerun it.",
    "versions": "package versions the values were recorded with",
    "settings": "bootstrap settings shared by every case",
    "cases[].scores": "input matrix, scores[run][task] (num_runs x num_tasks)",
    "cases[].iqm_trim": "scipy.stats.trim_mean(0.25) over the flattened runs x tasks "
    "matrix: n values, int(0.25 * n) cut from each end of the sorted values, "
    "mean of the rest",
    "cases[].point": "mean = mean over tasks of per-task mean over runs; median = "
    "median over tasks of per-task means; iqm = 25% trimmed mean of all runs x tasks "
    "scores; optimality_gap = gamma - mean(min(score, gamma)) over all scores, gamma = 1",
    "cases[].interval.<agg>": "lower/upper: 95% percentile interval of "
    "get_interval_estimates (stratified bootstrap, each task's column resampled "
    "independently with replacement over runs, np.percentile linear "
    "interpolation at 2.5/97.5) with np.random.seed(settings.seed); "
    "bootstrap_mean/bootstrap_sd: of the reps replicates (ddof 0); "
    "alt_seed_lower/upper: same with np.random.seed(settings.alt_seed), "
    "to show Monte Carlo spread",
    "cases[].profile": "tau: thresholds; run_score_distribution[i] = fraction of all "
    "runs x tasks scores with score > tau[i] (strict); average_score_distribution[i] "
    "= fraction of tasks whose mean over runs is > tau[i] (strict); "
    "run_score_distribution_ci: create_performance_profile's 95% percentile "
    "stratified-bootstrap interval (profile_reps replicates, seed settings.seed)",
}


def main():
    versions = {
        name: metadata.version(name) for name in ["rliable", "arch", "numpy", "scipy", "pandas"]
    }
    versions["python"] = platform.python_version()
    out = {
        "_about": ABOUT,
        "versions": versions,
        "settings": {
            "method": "percentile",
            "task_bootstrap": False,
            "confidence_interval_size": CONFIDENCE,
            "reps": REPS,
            "profile_reps": PROFILE_REPS,
            "gamma": GAMMA,
            "seed": SEED,
            "alt_seed": ALT_SEED,
        },
        "cases": [record_case(name, s, taus) for name, s, taus in matrices()],
    }
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
