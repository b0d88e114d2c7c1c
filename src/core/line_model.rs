//! A world model small enough to work out by hand, for the unit tests of
//! planners and behaviour learning: a point on a line that actions move.
//! Its dynamics, rewards and continuation are exact, so what a test
//! computes from them can be derived on paper.

use burn::tensor::{Device, Tensor};

use super::{Dynamics, Noise, Observed, VectorState, WorldModel};
use crate::nn::dist::{Bernoulli, BinSpace, BinnedScalar, ScalarTransform};
use crate::nn::tensor_util::tensor_from_vec;

/// A point on a line. Discrete actions (left, stay, right, say) move it
/// by `moves`; a continuous action moves it by `moves[0]` times the
/// action. The reward of arriving at `x` is `bonus - distance_cost |x|`:
/// by default `-|x|`, so the best plan heads for 0.
pub(crate) struct Line {
    /// How far each action component moves the point `[A]`.
    pub moves: Vec<f32>,
    /// Probability that the episode continues after a step; `None` for always.
    pub continues: Option<f32>,
    /// Reward lost per unit of distance from 0.
    pub distance_cost: f32,
    /// Reward of every step.
    pub bonus: f32,
}

/// Exact bins for the line's rewards: integers and halves in [-20, 20].
pub(crate) const LINE_SPACE: BinSpace = BinSpace {
    low: -20.0,
    high: 20.0,
    bins: 401,
    transform: ScalarTransform::Identity,
};

impl Line {
    /// A line whose actions move the point by `moves`, rewarding `-|x|`,
    /// on which episodes never end.
    pub fn new(moves: Vec<f32>) -> Self {
        Line {
            moves,
            continues: None,
            distance_cost: 1.0,
            bonus: 0.0,
        }
    }
}

impl Dynamics for Line {
    type State = VectorState;
    fn feature_width(&self) -> usize {
        1
    }
    fn initial(&self, batch: usize, device: &Device) -> VectorState {
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
        let reward = features.abs().neg() * self.distance_cost + self.bonus;
        BinnedScalar::point(reward.squeeze_dim(1), LINE_SPACE)
    }
    fn continuation(&self, features: Tensor<2>) -> Option<Bernoulli> {
        let logit = self.continues.map(|p| (p / (1.0 - p)).ln())?;
        Some(Bernoulli::new(
            features.squeeze_dim::<1>(1).zeros_like() + logit,
        ))
    }
}
