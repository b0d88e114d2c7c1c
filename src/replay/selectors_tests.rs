//! Tests of the selector mixture: hand-computed window weights and draws,
//! and what the selectors make a [`SequenceReplay`] sample.

use super::*;
use crate::config::Validator;
use crate::core::{Noise, ObsKind};
use crate::replay::{SequenceReplay, Transition};
use crate::train::checkpoint::{load_replay, save_replay};

fn config(exponent: f32, maxfrac: f32) -> PriorityConfig {
    PriorityConfig {
        exponent,
        maxfrac,
        ..PriorityConfig::default()
    }
}

#[test]
fn window_weights_mix_the_largest_and_the_mean_powered_priority() {
    // p^0.5 = [1, 2, 0, 3]; maxfrac 0.5: 0.5 max + 0.5 mean per pair.
    let w = window_weights(&[1.0, 4.0, 0.0, 9.0], 2, &config(0.5, 0.5));
    assert_eq!(w, vec![1.75, 1.5, 2.25]);
    // maxfrac 0 is the mean, 1 the largest.
    assert_eq!(
        window_weights(&[1.0, 4.0, 0.0, 9.0], 3, &config(1.0, 0.0)),
        vec![5.0 / 3.0, 13.0 / 3.0]
    );
    assert_eq!(
        window_weights(&[1.0, 4.0, 0.0, 9.0], 3, &config(1.0, 1.0)),
        vec![4.0, 9.0]
    );
    // A window with an unseen (infinite) step is infinite; too short a
    // stream has no window.
    let w = window_weights(&[1.0, f32::INFINITY, 1.0, 1.0], 2, &config(1.0, 0.0));
    assert_eq!(w, vec![f64::INFINITY, f64::INFINITY, 1.0]);
    assert!(window_weights(&[1.0], 2, &config(1.0, 0.0)).is_empty());
}

#[test]
fn draws_prefer_infinite_weights_then_proportions_then_uniform() {
    assert_eq!(
        draw_weighted(&[0.0, f64::INFINITY, 3.0, f64::INFINITY], 0.0),
        1
    );
    assert_eq!(
        draw_weighted(&[0.0, f64::INFINITY, 3.0, f64::INFINITY], 0.99),
        3
    );
    // [1, 3]: 0.2 * 4 = 0.8 falls in the first, 0.3 * 4 = 1.2 in the second.
    assert_eq!(draw_weighted(&[1.0, 3.0], 0.2), 0);
    assert_eq!(draw_weighted(&[1.0, 3.0], 0.3), 1);
    assert_eq!(draw_weighted(&[0.0, 0.0, 0.0], 0.5), 1);
}

#[test]
fn recency_ages_follow_the_power_law_and_stretch_over_what_is_held() {
    // Weights 1, 1/2, 1/3, 1/4 over four ages: CDF 0.48, 0.72, 0.88, 1.
    let cdf = recency_cdf(4, 1.0);
    let expected = [12.0 / 25.0, 18.0 / 25.0, 22.0 / 25.0, 1.0];
    for (c, e) in cdf.iter().zip(expected) {
        assert!((c - e).abs() < 1e-12, "{cdf:?}");
    }
    assert_eq!(draw_age(&cdf, 4, 0.1), 0);
    assert_eq!(draw_age(&cdf, 4, 0.5), 1);
    assert_eq!(draw_age(&cdf, 4, 0.99), 3);
    // Two windows held of a capacity of four: age 3 of 4 becomes 1 of 2.
    assert_eq!(draw_age(&cdf, 2, 0.99), 1);
}

#[test]
fn settings_out_of_range_are_named() {
    let mut v = Validator::default();
    ReplayFractions {
        uniform: 0.5,
        priority: 0.7,
        recency: 0.0,
    }
    .validate(&mut v);
    config(-1.0, 2.0).validate(&mut v);
    let keys: Vec<String> = v.into_problems().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec!["uniform", "exponent", "maxfrac"]);
}

/// A one-stream replay of `n` steps whose observation is the step's index.
fn numbered(n: usize, fracs: ReplayFractions, prio: PriorityConfig) -> SequenceReplay {
    numbered_in(1000, n, fracs, prio, 1.0)
}

/// [`numbered`] with a capacity and a recency exponent.
fn numbered_in(
    capacity: usize,
    n: usize,
    fracs: ReplayFractions,
    prio: PriorityConfig,
    recexp: f64,
) -> SequenceReplay {
    let mut replay = SequenceReplay::new(capacity, 1, ObsKind::Vector { width: 1 }, 1);
    replay.select_by(fracs, prio, recexp);
    for i in 0..n {
        replay.add(
            0,
            &Transition {
                obs: &[i as f32],
                action: &[0.0],
                reward: 0.0,
                is_first: i == 0,
                is_terminal: false,
            },
        );
    }
    replay
}

fn only(priority: f64, recency: f64) -> ReplayFractions {
    ReplayFractions {
        uniform: 1.0 - priority - recency,
        priority,
        recency,
    }
}

#[test]
fn priorities_steer_the_windows_and_survive_a_checkpoint() {
    let prio = PriorityConfig {
        initial: 0.0,
        zero_on_sample: false,
        ..PriorityConfig::default()
    };
    let mut replay = numbered(20, only(1.0, 0.0), prio);
    assert!(replay.wants_priorities());
    // Only step 10 has any priority: every window of 4 holds it.
    replay.prioritize(&[(0, 10)], &[100.0]);
    let mut noise = Noise::new(5);
    let batch = replay.sample_for_update(16, 4, 0, &mut noise);
    for b in 0..16 {
        let first = batch.obs[b];
        assert!((7.0..=10.0).contains(&first), "window from {first}");
    }
    let dir = tempfile::tempdir().unwrap();
    save_replay(&replay, dir.path()).unwrap();
    let mut loaded: SequenceReplay = load_replay(dir.path()).unwrap().unwrap();
    let again = loaded.sample_for_update(16, 4, 0, &mut Noise::new(6));
    let fresh = replay.sample_for_update(16, 4, 0, &mut Noise::new(6));
    assert_eq!(again.obs, fresh.obs);
}

#[test]
fn new_steps_come_first_and_a_drawn_window_waits_for_its_loss() {
    // Initial priority inf, zero on sample: windows with a step no update
    // has seen are drawn first, so a window just drawn (both its steps now
    // at 0) is not drawn again while any such window remains.
    for seed in 0..50 {
        let mut replay = numbered(8, only(1.0, 0.0), PriorityConfig::default());
        let mut noise = Noise::new(seed);
        let first = replay.sample_for_update(1, 2, 0, &mut noise).obs[0];
        let second = replay.sample_for_update(1, 2, 0, &mut noise).obs[0];
        assert_ne!(first, second, "seed {seed}");
        // The update's losses bring it back: with every other step at 0,
        // only windows holding the first window's steps can be drawn.
        let positions: Vec<(u32, u32)> = (0..8).map(|i| (0, i)).collect();
        let mut losses = vec![0.0; 8];
        losses[first as usize] = 1.0;
        replay.prioritize(&positions, &losses);
        let third = replay.sample_for_update(1, 2, 0, &mut noise).obs[0];
        assert!(
            third == first || third + 1.0 == first,
            "seed {seed}: {third} for {first}"
        );
    }
}

#[test]
fn recency_with_a_steep_exponent_draws_the_newest_window() {
    let mut replay = numbered_in(100, 100, only(0.0, 1.0), PriorityConfig::default(), 60.0);
    let batch = replay.sample_for_update(8, 3, 0, &mut Noise::new(1));
    // The newest window of 3 starts at step 97.
    assert!(
        batch.obs[..8].iter().all(|&o| o == 97.0),
        "{:?}",
        &batch.obs[..8]
    );
}

#[test]
fn uniform_fractions_sample_exactly_as_plain_replay() {
    let mut plain = numbered(30, only(0.0, 0.0), PriorityConfig::default());
    let mut mixed = numbered(30, only(0.5, 0.0), PriorityConfig::default());
    mixed.select_by(only(0.0, 0.0), PriorityConfig::default(), 1.0);
    assert!(!mixed.wants_priorities());
    let a = plain.sample_for_update(8, 5, 0, &mut Noise::new(3));
    let b = mixed.sample_for_update(8, 5, 0, &mut Noise::new(3));
    assert_eq!(a.obs, b.obs);
}

#[test]
fn a_window_weighs_by_the_steps_it_trains_on_not_its_context() {
    let prio = PriorityConfig {
        initial: 0.0,
        zero_on_sample: false,
        ..PriorityConfig::default()
    };
    let mut replay = numbered(20, only(1.0, 0.0), prio);
    replay.keep_latents(2, 1, 2);
    replay.prioritize(&[(0, 10)], &[100.0]);
    // Windows of 1 context step + 3 trained steps: step 10 must be among
    // the trained three, so the sequence returned starts at 8, 9 or 10.
    let batch = replay.sample_for_update(16, 3, 1, &mut Noise::new(4));
    for b in 0..16 {
        let first = batch.obs[b];
        assert!((8.0..=10.0).contains(&first), "sequence from {first}");
    }
}

#[test]
fn a_badly_predicted_ending_is_drawn_as_often_as_its_weight_says() {
    // Two episodes of 100 steps, the first ending at step 99. Every step's
    // loss is 0.6 (the KL's free nats), the ending's 3.6 (a continue head
    // saying 0.96 where the episode ended). Windows of 16: 185 of them, 16
    // hold the ending. Uniform: 16 / 185 of the windows. Priority
    // (exponent 0.8, maxfrac 0.5): a window with the ending weighs
    // 0.5 * 3.6^0.8 + 0.5 * (15 * 0.6^0.8 + 3.6^0.8) / 16, the others
    // 0.6^0.8, so 16 * 1.7927 / (16 * 1.7927 + 169 * 0.6645) = 0.2034.
    let prio = PriorityConfig {
        initial: 0.0,
        zero_on_sample: false,
        ..PriorityConfig::default()
    };
    let endings_per_window = |fracs: ReplayFractions| {
        let mut replay = SequenceReplay::new(1000, 1, ObsKind::Vector { width: 1 }, 1);
        replay.select_by(fracs, prio, 1.0);
        for i in 0..200 {
            replay.add(
                0,
                &Transition {
                    obs: &[i as f32],
                    action: &[0.0],
                    reward: 1.0,
                    is_first: i == 0 || i == 100,
                    is_terminal: i == 99,
                },
            );
        }
        let positions: Vec<(u32, u32)> = (0..200).map(|i| (0, i)).collect();
        let losses: Vec<f32> = (0..200).map(|i| if i == 99 { 3.6 } else { 0.6 }).collect();
        replay.prioritize(&positions, &losses);
        let mut noise = Noise::new(9);
        let draws = 500;
        let endings: f64 = (0..draws)
            .map(|_| replay.sample_for_update(8, 16, 0, &mut noise).terminals())
            .sum();
        endings / (draws * 8) as f64
    };
    let uniform = endings_per_window(only(0.0, 0.0));
    let prioritised = endings_per_window(only(1.0, 0.0));
    let half = endings_per_window(only(0.5, 0.0));
    // 4,000 windows each: a standard error of about 0.005 around 0.086,
    // 0.006 around 0.203.
    assert!((uniform - 16.0 / 185.0).abs() < 0.02, "uniform {uniform}");
    assert!(
        (prioritised - 0.2034).abs() < 0.025,
        "priority {prioritised}"
    );
    let mixed = 0.5 * 16.0 / 185.0 + 0.5 * 0.2034;
    assert!((half - mixed).abs() < 0.025, "half {half}");
}
