use burn::tensor::Device;

use super::*;
use crate::core::line_model::{LINE_SPACE as SPACE, Line};
use crate::core::{PolicyDistribution, VectorState};
use crate::nn::dist::{BinnedScalar, BoundedNormal, OneHotCategorical};

fn positions(x: &[f32]) -> VectorState {
    VectorState::new(tensor_from_vec(x.to_vec(), [x.len(), 1], &Device::flex()))
}

/// The same value everywhere.
struct Constant(f32);

impl ValueModel for Constant {
    fn value(&self, features: Tensor<2>) -> BinnedScalar {
        BinnedScalar::point(features.squeeze_dim::<1>(1).zeros_like() + self.0, SPACE)
    }
}

/// A policy prior: fixed discrete logits, or a continuous mean.
struct Prior(Vec<f32>, bool);

impl PolicyModel for Prior {
    fn policy(&self, features: Tensor<2>) -> PolicyDistribution {
        let [b, _] = features.dims();
        let a = self.0.len();
        let row = tensor_from_vec(self.0.clone(), [1, a], &features.device()).repeat_dim(0, b);
        if self.1 {
            PolicyDistribution::Discrete(OneHotCategorical::new(row, 0.0))
        } else {
            PolicyDistribution::Continuous(BoundedNormal::new(row.clone(), row, 0.01, 0.02))
        }
    }
}

fn discrete_line() -> Line {
    Line::new(vec![-1.0, 0.0, 1.0])
}

#[test]
fn returns_are_discounted_continuation_weighted_and_bootstrapped() {
    // From x = 2, left twice: arrive at 1 (reward -1, continue 0.5),
    // then at 0 (reward 0, continue 0.5), then bootstrap the value 2:
    // G = -1 + 0.9 * 0.5 * 0 + 0.9^2 * 0.5 * 0.5 * 2 = -0.595.
    let model = Line {
        continues: Some(0.5),
        ..discrete_line()
    };
    let scorer = Scorer {
        model: &model,
        value: &Constant(2.0),
        discount: 0.9,
    };
    let left = vec![1.0, 0.0, 0.0];
    let stay = vec![0.0, 1.0, 0.0];
    // Second row: stay twice from x = -1: -1 + 0.45 * -1 + 0.2025 * 2.
    let actions = [left.clone(), left, stay.clone(), stay].concat();
    let actions = tensor_from_vec(actions, [2, 2, 3], &Device::flex());
    let returns = to_vec(scorer.score(&positions(&[2.0, -1.0]), actions, &mut Noise::new(0)));
    let expected = [-0.595, -1.0 - 0.45 + 0.405];
    for (g, e) in returns.iter().zip(expected) {
        assert!((g - e).abs() < 1e-4, "{returns:?}");
    }
}

fn small_config(kind: SamplingKind) -> SamplingConfig {
    SamplingConfig {
        kind,
        horizon: 4,
        samples: 64,
        policy_samples: 0,
        elites: 8,
        iterations: 4,
        ..SamplingConfig::default()
    }
}

#[test]
fn both_kinds_head_home_with_discrete_actions() {
    for kind in [SamplingKind::Cem, SamplingKind::Mppi] {
        let mut planner = SamplingPlanner::new(small_config(kind), 3, true, 0.99);
        planner.explore = false;
        let out = planner.plan(
            &discrete_line(),
            &Constant(0.0),
            &Prior(vec![0.0; 3], true),
            &positions(&[3.0, -2.0, 0.0]),
            &mut Noise::new(1),
        );
        let actions = first_max_per_row(&to_vec(out.actions), 3);
        assert_eq!(actions, vec![0, 2, 1], "{kind:?}: left, right, stay");
        let target = to_vec(out.policy_target.expect("discrete plans give a policy"));
        assert!(target[0] > 0.6 && target[5] > 0.6, "{kind:?}: {target:?}");
        let values = to_vec(out.value_target.expect("value"));
        // Best returns: -(2 + 1 + 0 + 0) discounted, -(1 + 0 ...), 0.
        assert!((values[0] + 2.0 + 0.99).abs() < 0.1, "{kind:?}: {values:?}");
        assert!((values[1] + 1.0).abs() < 0.1, "{kind:?}: {values:?}");
        assert!(values[2].abs() < 0.1, "{kind:?}: {values:?}");
    }
}

#[test]
fn both_kinds_find_the_continuous_optimum() {
    // From 1.5 the best first move is the full -1; from -0.7 it is +0.7,
    // which reaches 0 at once.
    let line = Line::new(vec![1.0]);
    for kind in [SamplingKind::Cem, SamplingKind::Mppi] {
        let config = SamplingConfig {
            samples: 256,
            elites: 32,
            iterations: 6,
            ..small_config(kind)
        };
        let mut planner = SamplingPlanner::new(config, 1, false, 0.99);
        planner.explore = false;
        let out = planner.plan(
            &line,
            &Constant(0.0),
            &Prior(vec![0.0], false),
            &positions(&[1.5, -0.7]),
            &mut Noise::new(2),
        );
        let actions = to_vec(out.actions);
        assert!(actions[0] < -0.85, "{kind:?}: {actions:?}");
        assert!((actions[1] - 0.7).abs() < 0.15, "{kind:?}: {actions:?}");
        assert!(out.policy_target.is_none());
    }
}

#[test]
fn policy_samples_are_candidates() {
    // One random sequence per iteration cannot be trusted to head left
    // from x = 5, but 16 sequences from a prior that always goes left do.
    let config = SamplingConfig {
        samples: 1,
        policy_samples: 16,
        elites: 1,
        iterations: 1,
        momentum: 0.0,
        ..small_config(SamplingKind::Cem)
    };
    let mut planner = SamplingPlanner::new(config, 3, true, 0.99);
    planner.explore = false;
    let out = planner.plan(
        &discrete_line(),
        &Constant(0.0),
        &Prior(vec![20.0, 0.0, 0.0], true),
        &positions(&[5.0; 8]),
        &mut Noise::new(3),
    );
    assert_eq!(first_max_per_row(&to_vec(out.actions), 3), vec![0; 8]);
}

#[test]
fn exploring_samples_the_fitted_first_step() {
    let mut planner = SamplingPlanner::new(small_config(SamplingKind::Mppi), 3, true, 0.99);
    let out = planner.plan(
        &discrete_line(),
        &Constant(0.0),
        &Prior(vec![0.0; 3], true),
        &positions(&[4.0; 64]),
        &mut Noise::new(4),
    );
    let rows = to_vec(out.actions);
    assert!(
        rows.chunks(3).all(|r| r.iter().sum::<f32>() == 1.0),
        "one-hot"
    );
    let lefts = first_max_per_row(&rows, 3)
        .iter()
        .filter(|&&a| a == 0)
        .count();
    assert!(lefts > 40, "mostly left from x = 4: {lefts} of 64");
}

#[test]
fn elites_beyond_the_candidates_are_a_config_error() {
    let config = SamplingConfig {
        samples: 4,
        policy_samples: 2,
        elites: 7,
        ..SamplingConfig::default()
    };
    let mut v = Validator::default();
    config.validate(&mut v);
    let err = v.finish("test.toml").unwrap_err().to_string();
    assert!(err.contains("elites"), "{err}");
}

/// The Gaussian's mean and std after one refit of `mean 0, std 2` to
/// `elites` (one step, one dimension) with `weights`.
fn refit_one(planner: &SamplingPlanner, elites: &[f32], weights: Vec<f32>) -> (f32, f32) {
    let device = Device::flex();
    let k = elites.len();
    let dist = SequenceDistribution::Gaussian {
        mean: Tensor::zeros([1, 1, 1], &device),
        std: Tensor::ones([1, 1, 1], &device) * 2.0,
    };
    let elites = tensor_from_vec(elites.to_vec(), [1, k, 1, 1], &device);
    match planner.refit(dist, elites, tensor_from_vec(weights, [1, k], &device)) {
        SequenceDistribution::Gaussian { mean, std } => (to_vec(mean)[0], to_vec(std)[0]),
        SequenceDistribution::Categorical { .. } => unreachable!("refit keeps the kind"),
    }
}

#[test]
fn mppi_weights_and_refit_follow_td_mpc() {
    // Values worked by hand from TD-MPC's update: score = exp(temperature
    // * (G - max G)) normalised; the mean is the score-weighted elites,
    // a momentum share of the old mean kept; the std is their
    // score-weighted spread, clamped to [min_std, max_std].
    let config = SamplingConfig {
        horizon: 1,
        ..SamplingConfig::default()
    };
    let planner = SamplingPlanner::new(config, 1, false, 0.99);
    // Returns 0 and -2 at temperature 0.5: exp(0) : exp(-1).
    let weights = planner.elite_weights(&[vec![0.0, -2.0]]);
    for (w, e) in weights.iter().zip([0.731_058_6, 0.268_941_4]) {
        assert!((w - e).abs() < 1e-6, "{weights:?}");
    }
    // Elites +1 and -1: mean 0.9 * (0.7311 - 0.2689); spread
    // sqrt(0.7311 (1 - 0.4621)^2 + 0.2689 (-1 - 0.4621)^2).
    let (mean, std) = refit_one(&planner, &[1.0, -1.0], weights);
    assert!((mean - 0.415_905_4).abs() < 1e-5, "{mean}");
    assert!((std - 0.886_818_9).abs() < 1e-5, "{std}");
    // A spread beyond max_std, or none at all, is clamped.
    let (_, wide) = refit_one(&planner, &[5.0, -5.0], vec![0.5, 0.5]);
    assert!((wide - 2.0).abs() < 1e-6, "{wide}");
    let (_, narrow) = refit_one(&planner, &[0.3, 0.3], vec![0.5, 0.5]);
    assert!((narrow - 0.05).abs() < 1e-6, "{narrow}");
    // A larger temperature is sharper.
    let sharp = SamplingPlanner::new(
        SamplingConfig {
            temperature: 10.0,
            ..SamplingConfig::default()
        },
        1,
        false,
        0.99,
    );
    assert!(sharp.elite_weights(&[vec![0.0, -2.0]])[0] > 0.999_999);
}

#[test]
fn draws_follow_the_cumulative_weights() {
    let w = [0.2, 0.5, 0.3];
    let draws: Vec<usize> = [0.0, 0.19, 0.21, 0.69, 0.71, 0.999_999]
        .iter()
        .map(|&u| draw_index(&w, u))
        .collect();
    assert_eq!(draws, vec![0, 0, 1, 1, 2, 2]);
}

#[test]
fn continuous_mppi_acts_on_a_weighted_elite() {
    // Two elites of two steps; all weight on one picks its first action,
    // not the fitted mean.
    let device = Device::flex();
    let mut planner = SamplingPlanner::new(SamplingConfig::default(), 1, false, 0.99);
    planner.explore = false;
    let elites = tensor_from_vec(vec![0.3, 0.9, -0.6, -0.2], [1, 2, 2, 1], &device);
    let std = Tensor::ones([1, 2, 1], &device) * 0.5;
    let mut noise = Noise::new(0);
    for (weights, first) in [([1.0, 0.0], 0.3), ([0.0, 1.0], -0.6)] {
        let action = planner.weighted_elite_action(elites.clone(), &weights, &std, &mut noise);
        assert!((to_vec(action)[0] - first).abs() < 1e-6);
    }
    // Exploring adds the first step's spread: over many roots, the mean
    // stays and the spread is the fitted one.
    planner.explore = true;
    let roots = 4000;
    let many = tensor_from_vec([0.3, 0.9].repeat(roots), [roots, 1, 2, 1], &device);
    let std = Tensor::ones([roots, 2, 1], &device) * 0.2;
    let actions = to_vec(planner.weighted_elite_action(many, &vec![1.0; roots], &std, &mut noise));
    let mean = actions.iter().sum::<f32>() / roots as f32;
    let spread = (actions.iter().map(|a| (a - mean).powi(2)).sum::<f32>() / roots as f32).sqrt();
    assert!(
        (mean - 0.3).abs() < 0.02 && (spread - 0.2).abs() < 0.02,
        "{mean} {spread}"
    );
}

#[test]
fn warm_starts_shift_the_previous_means_and_clear_new_episodes() {
    let device = burn::tensor::Device::flex();
    // Two rows, horizon 3, one action dimension.
    let previous = tensor_from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3, 1], &device);
    let shifted = SamplingPlanner::shifted(previous, &[false, true]);
    assert_eq!(to_vec(shifted), vec![2.0, 3.0, 0.0, 0.0, 0.0, 0.0]);
}

/// The fitted means start from the warm start: with one refit that keeps
/// 99.9% of the old mean, the result is the warm start itself (and zeros
/// without one); the planner hands back what the next step starts from.
#[test]
fn a_warm_start_is_where_the_fit_begins() {
    let device = burn::tensor::Device::flex();
    let line = Line::new(vec![1.0]);
    let config = SamplingConfig {
        iterations: 1,
        momentum: 0.999,
        warm_start: true,
        ..small_config(SamplingKind::Mppi)
    };
    let mut planner = SamplingPlanner::new(config, 1, false, 0.99);
    let states = positions(&[1.5, -0.7]);
    let warm = tensor_from_vec(
        vec![0.5, -0.5, 0.25, 0.0, 0.1, 0.2, 0.3, 0.4],
        [2, 4, 1],
        &device,
    );
    let fit = |planner: &mut SamplingPlanner, warm: Option<Tensor<3>>| {
        let prior = Prior(vec![0.0], false);
        let (_, fitted) = planner.plan_from(
            &line,
            &Constant(0.0),
            &prior,
            &states,
            warm,
            &mut Noise::new(4),
        );
        to_vec(fitted.expect("continuous actions keep their means"))
    };
    for (got, want) in fit(&mut planner, Some(warm.clone()))
        .iter()
        .zip(to_vec(warm))
    {
        assert!((got - want).abs() < 0.01, "{got} vs {want}");
    }
    assert!(fit(&mut planner, None).iter().all(|m| m.abs() < 0.01));
}
