//! The simplest latent state: one vector per batch row.

use burn::tensor::{Int, Tensor};

use super::LatentState;

/// A latent state that is a single vector `[B, S]`, whose features are the
/// vector itself. MuZero's hidden state is one; so is the state of any
/// deterministic model a user writes (see `examples/custom_world_model.rs`),
/// which then needs no state type of its own.
#[derive(Debug, Clone)]
pub struct VectorState {
    /// The state vectors `[B, S]`.
    pub hidden: Tensor<2>,
}

impl VectorState {
    /// Wrap `[B, S]` vectors.
    pub fn new(hidden: Tensor<2>) -> Self {
        VectorState { hidden }
    }
}

impl LatentState for VectorState {
    fn features(&self) -> Tensor<2> {
        self.hidden.clone()
    }

    fn batch(&self) -> usize {
        self.hidden.dims()[0]
    }

    fn select(&self, indices: Tensor<1, Int>) -> Self {
        VectorState::new(self.hidden.clone().select(0, indices))
    }

    fn cat(states: Vec<Self>) -> Self {
        VectorState::new(Tensor::cat(
            states.into_iter().map(|s| s.hidden).collect(),
            0,
        ))
    }

    fn detach(self) -> Self {
        VectorState::new(self.hidden.detach())
    }
}
