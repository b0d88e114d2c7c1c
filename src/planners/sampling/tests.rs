use burn::tensor::Device;

use super::*;
use crate::core::{Observed, PolicyDistribution, VectorState};
use crate::nn::dist::{
    Bernoulli, BinSpace, BinnedScalar, BoundedNormal, OneHotCategorical, ScalarTransform,
};

/// A point on a line. Discrete actions (left, stay, right) move it by
/// -1, 0, +1; a continuous action in [-1, 1] moves it by that much. The
/// reward of arriving at `x` is `-|x|`, so the best plan heads for 0.
struct Line {
    /// How far each action component moves the point `[A]`.
    moves: Vec<f32>,
    /// Probability that the episode continues after a step; `None` for always.
    continues: Option<f32>,
}

const SPACE: BinSpace = BinSpace {
    low: -20.0,
    high: 20.0,
    bins: 401,
    transform: ScalarTransform::Identity,
};

fn positions(x: &[f32]) -> VectorState {
    VectorState::new(tensor_from_vec(x.to_vec(), [x.len(), 1], &Device::flex()))
}

impl Dynamics for Line {
    type State = VectorState;
    fn feature_width(&self) -> usize {
        1
    }
    fn initial(&self, batch: usize, device: &burn::tensor::Device) -> VectorState {
        VectorState::new(Tensor::zeros([batch, 1], device))
    }
    fn observe(
        &self,
        _: &VectorState,
        _: Tensor<2>,
        embed: Tensor<2>,
        _: Tensor<1>,
        _: &mut Noise,
    ) -> Observed<VectorState> {
        let state = VectorState::new(embed);
        Observed {
            posterior: state.clone(),
            prior: state,
        }
    }
    fn imagine(&self, state: &VectorState, action: Tensor<2>, _: &mut Noise) -> VectorState {
        let a = self.moves.len();
        let moves = tensor_from_vec(self.moves.clone(), [a, 1], &action.device());
        VectorState::new(state.hidden.clone() + action.matmul(moves))
    }
}

impl WorldModel for Line {
    type Dynamics = Line;
    fn dynamics(&self) -> &Line {
        self
    }
    fn reward(&self, features: Tensor<2>) -> BinnedScalar {
        BinnedScalar::point(features.abs().neg().squeeze_dim(1), SPACE)
    }
    fn continuation(&self, features: Tensor<2>) -> Option<Bernoulli> {
        let logit = self.continues.map(|p| (p / (1.0 - p)).ln())?;
        Some(Bernoulli::new(
            features.squeeze_dim::<1>(1).zeros_like() + logit,
        ))
    }
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
    Line {
        moves: vec![-1.0, 0.0, 1.0],
        continues: None,
    }
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
    let line = Line {
        moves: vec![1.0],
        continues: None,
    };
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
