//! One API conformance suite for every registered environment.
//!
//! Each check runs against every id in `registry()`, so a new family
//! (classic control, MinAtar, ...) is covered as soon as it registers. The
//! checks are the `Env` contract: consistent spaces, seeded determinism,
//! observations inside the observation space, `BadCall` for steps before
//! `reset` or after the episode ended, `InvalidAction` for actions outside
//! the action space, and well-sized frames from `render`.

use rand::SeedableRng;
use rand::rngs::StdRng;
use somnium_envs::{
    Action, Env, EnvError, EnvSpec, Observation, Space, Step, random_action, registry,
};

/// Steps per determinism rollout (spanning several episodes of short envs).
const ROLLOUT_STEPS: usize = 300;
/// Give up looking for an episode end after this many steps.
const MAX_EPISODE_STEPS: usize = 20_000;

fn specs() -> Vec<EnvSpec> {
    let specs = registry();
    assert!(!specs.is_empty(), "no environments registered");
    specs
}

/// Why `obs` is not in `space`, if it is not.
fn outside(space: &Space, obs: &Observation) -> Option<String> {
    match (space, obs) {
        (Space::Box { low, high, .. }, Observation::Vector(v)) => {
            if v.len() != space.flat_len() {
                return Some(format!("length {} != {}", v.len(), space.flat_len()));
            }
            v.iter()
                .zip(low.iter().zip(high))
                .position(|(x, (lo, hi))| !(lo <= x && x <= hi))
                .map(|i| format!("element {i} = {} outside [{}, {}]", v[i], low[i], high[i]))
        }
        (Space::Image { .. }, Observation::Image(p)) if p.len() == space.flat_len() => None,
        (space, obs) => Some(format!(
            "{} observation of length {} for {}",
            if matches!(obs, Observation::Vector(_)) {
                "vector"
            } else {
                "image"
            },
            obs.len(),
            space.describe()
        )),
    }
}

/// Play `steps` random actions (drawn from `action_seed`) from
/// `reset(seed)`, resetting (unseeded) at episode ends, checking every
/// observation against the space.
fn rollout(
    spec: &EnvSpec,
    seed: u64,
    action_seed: u64,
    steps: usize,
) -> Vec<(Observation, Option<Step>)> {
    let mut env = (spec.make)();
    let mut rng = StdRng::seed_from_u64(action_seed);
    let space = env.observation_space().clone();
    let check = |obs: &Observation, t: usize| {
        if let Some(problem) = outside(&space, obs) {
            panic!(
                "{} step {t}: observation not in its space: {problem}",
                spec.id
            );
        }
    };
    let first = env.reset(Some(seed)).unwrap();
    check(&first, 0);
    let mut out = vec![(first, None)];
    for t in 1..=steps {
        let action = random_action(env.action_space(), &mut rng);
        let step = env
            .step(&action)
            .unwrap_or_else(|e| panic!("{} step {t}: {e}", spec.id));
        check(&step.obs, t);
        assert!(
            step.reward.is_finite(),
            "{} step {t}: reward {}",
            spec.id,
            step.reward
        );
        let done = step.terminated || step.truncated;
        out.push((step.obs.clone(), Some(step)));
        if done {
            let obs = env.reset(None).unwrap();
            check(&obs, t);
            out.push((obs, None));
        }
    }
    out
}

/// Reset with `seed` and act randomly until the episode ends; returns the
/// environment, or `None` if it did not end within `MAX_EPISODE_STEPS`.
fn play_to_end(spec: &EnvSpec, seed: u64) -> Option<Box<dyn Env>> {
    let mut env = (spec.make)();
    let mut rng = StdRng::seed_from_u64(seed);
    env.reset(Some(seed)).unwrap();
    for _ in 0..MAX_EPISODE_STEPS {
        let step = env
            .step(&random_action(env.action_space(), &mut rng))
            .unwrap();
        if step.terminated || step.truncated {
            return Some(env);
        }
    }
    None
}

#[test]
fn ids_are_unique_and_match() {
    let specs = specs();
    for (i, spec) in specs.iter().enumerate() {
        assert_eq!((spec.make)().id(), spec.id);
        assert!(!spec.reference.is_empty(), "{}: no reference", spec.id);
        assert!(
            specs[..i].iter().all(|s| s.id != spec.id),
            "{} registered twice",
            spec.id
        );
        assert_eq!(somnium_envs::make(spec.id).unwrap().id(), spec.id);
    }
    assert!(matches!(
        somnium_envs::make("NoSuchEnv-v0"),
        Err(EnvError::UnknownId { .. })
    ));
}

#[test]
fn spaces_are_consistent() {
    for spec in specs() {
        let env = (spec.make)();
        match env.observation_space() {
            space @ Space::Box { shape, low, high } => {
                assert!(
                    !shape.is_empty() && shape.iter().all(|&d| d > 0),
                    "{}: shape {shape:?}",
                    spec.id
                );
                assert_eq!(low.len(), space.flat_len(), "{}: low length", spec.id);
                assert_eq!(high.len(), space.flat_len(), "{}: high length", spec.id);
                assert!(
                    low.iter().zip(high).all(|(l, h)| l <= h),
                    "{}: low > high",
                    spec.id
                );
            }
            Space::Image {
                height,
                width,
                channels,
            } => assert!(
                height * width * channels > 0,
                "{}: empty image space",
                spec.id
            ),
            Space::Discrete { .. } => {
                panic!("{}: discrete observation spaces are not supported", spec.id)
            }
        }
        match env.action_space() {
            Space::Discrete { n } => assert!(*n > 0, "{}: no actions", spec.id),
            space @ Space::Box { low, high, .. } => {
                assert_eq!(
                    low.len(),
                    space.flat_len(),
                    "{}: action low length",
                    spec.id
                );
                assert!(
                    low.iter()
                        .zip(high)
                        .all(|(l, h)| l.is_finite() && h.is_finite() && l <= h),
                    "{}: action bounds must be finite and ordered",
                    spec.id
                );
            }
            Space::Image { .. } => panic!("{}: image action space", spec.id),
        }
    }
}

#[test]
fn seeded_episodes_are_deterministic_and_in_space() {
    for spec in specs() {
        let a = rollout(&spec, 11, 0, ROLLOUT_STEPS);
        let b = rollout(&spec, 11, 0, ROLLOUT_STEPS);
        assert!(
            a == b,
            "{}: same seed and actions gave different trajectories",
            spec.id
        );
    }
}

#[test]
fn seeds_matter() {
    // Same actions, different seeds: some randomness (initial state, spawns,
    // sticky actions) should make the trajectories differ.
    for spec in specs() {
        let first = rollout(&spec, 0, 0, ROLLOUT_STEPS);
        let differs = (1..4).any(|seed| rollout(&spec, seed, 0, ROLLOUT_STEPS) != first);
        assert!(differs, "{}: four seeds gave the same trajectory", spec.id);
    }
}

#[test]
fn unseeded_reset_continues_the_seeded_stream() {
    for spec in specs() {
        let mut a = (spec.make)();
        let mut b = (spec.make)();
        a.reset(Some(5)).unwrap();
        b.reset(Some(5)).unwrap();
        for _ in 0..3 {
            assert_eq!(
                a.reset(None).unwrap(),
                b.reset(None).unwrap(),
                "{}",
                spec.id
            );
        }
    }
}

#[test]
fn step_before_reset_is_a_bad_call() {
    for spec in specs() {
        let mut env = (spec.make)();
        let action = random_action(env.action_space(), &mut StdRng::seed_from_u64(0));
        let result = env.step(&action);
        assert!(
            matches!(result, Err(EnvError::BadCall { .. })),
            "{}: got {result:?}",
            spec.id
        );
    }
}

#[test]
fn step_after_the_end_is_a_bad_call_until_reset() {
    for spec in specs() {
        let Some(mut env) = play_to_end(&spec, 3) else {
            eprintln!(
                "{}: no episode end within {MAX_EPISODE_STEPS} steps; skipped",
                spec.id
            );
            continue;
        };
        let action = random_action(env.action_space(), &mut StdRng::seed_from_u64(0));
        let result = env.step(&action);
        assert!(
            matches!(result, Err(EnvError::BadCall { .. })),
            "{}: got {result:?}",
            spec.id
        );
        env.reset(None).unwrap();
        env.step(&action)
            .unwrap_or_else(|e| panic!("{}: after reset: {e}", spec.id));
    }
}

#[test]
fn invalid_actions_are_rejected() {
    for spec in specs() {
        let mut env = (spec.make)();
        env.reset(Some(0)).unwrap();
        let invalid = match env.action_space().clone() {
            Space::Discrete { n } => vec![Action::Discrete(n), Action::Continuous(vec![0.0])],
            Space::Box { low, .. } => vec![
                Action::Continuous(vec![0.0; low.len() + 1]),
                Action::Discrete(0),
            ],
            Space::Image { .. } => unreachable!(),
        };
        for action in invalid {
            let result = env.step(&action);
            assert!(
                matches!(result, Err(EnvError::InvalidAction { .. })),
                "{}: {action:?} gave {result:?}",
                spec.id
            );
        }
        let valid = random_action(env.action_space(), &mut StdRng::seed_from_u64(0));
        env.step(&valid)
            .unwrap_or_else(|e| panic!("{}: valid step after invalid ones: {e}", spec.id));
    }
}

#[test]
fn frames_are_well_sized() {
    for spec in specs() {
        let mut env = (spec.make)();
        let mut rng = StdRng::seed_from_u64(1);
        env.reset(Some(1)).unwrap();
        for _ in 0..5 {
            if let Some(frame) = env.render() {
                assert!(
                    frame.height > 0 && frame.width > 0,
                    "{}: empty frame",
                    spec.id
                );
                assert_eq!(
                    frame.rgb.len(),
                    frame.height * frame.width * 3,
                    "{}: frame size",
                    spec.id
                );
            }
            let action = random_action(env.action_space(), &mut rng);
            if env
                .step(&action)
                .map(|s| s.terminated || s.truncated)
                .unwrap_or(true)
            {
                break;
            }
        }
    }
}
