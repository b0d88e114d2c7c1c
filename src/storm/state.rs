//! STORM's latent state: the latest latent sample `z`, the transformer's
//! hidden state `h` that predicted it, and the history behind them.
//!
//! The history is what sets a transformer model apart from the RSSM,
//! whose state is a fixed vector: it grows by one token per step. It
//! travels with the state as a key-value cache, so the `Dynamics` and
//! `LatentState` traits carry it unchanged: `select` and `cat` are row
//! operations on the cache too (rows of different depths are padded, see
//! [`KvCache::cat`]). Stacking is lazy, because behaviour learning stacks
//! every imagined step's state only to read their features: the parts are
//! kept side by side and joined only when a step needs the history.

use burn::tensor::{Int, Tensor};

use crate::core::LatentState;
use crate::nn::kv_cache::KvCache;

/// A batch of STORM states.
#[derive(Debug, Clone)]
pub struct StormState {
    /// Latent samples, one-hot per categorical, `[B, S * K]`.
    pub z: Tensor<2>,
    /// The transformer output that predicted `z` (zeros at an episode's
    /// first step) `[B, W]`.
    pub hidden: Tensor<2>,
    /// The history, as parts stacked along the batch in order.
    history: Vec<KvCache>,
}

impl StormState {
    /// A state from its parts.
    pub fn new(z: Tensor<2>, hidden: Tensor<2>, history: KvCache) -> Self {
        StormState {
            z,
            hidden,
            history: vec![history],
        }
    }

    /// The history of every row as one cache.
    pub fn history(&self) -> KvCache {
        KvCache::cat(self.history.clone())
    }
}

impl LatentState for StormState {
    /// `[z, h]`, STORM's agent input order.
    fn features(&self) -> Tensor<2> {
        Tensor::cat(vec![self.z.clone(), self.hidden.clone()], 1)
    }

    fn batch(&self) -> usize {
        self.z.dims()[0]
    }

    fn select(&self, indices: Tensor<1, Int>) -> Self {
        StormState::new(
            self.z.clone().select(0, indices.clone()),
            self.hidden.clone().select(0, indices.clone()),
            self.history().select(indices),
        )
    }

    fn cat(states: Vec<Self>) -> Self {
        let z = Tensor::cat(states.iter().map(|s| s.z.clone()).collect(), 0);
        let hidden = Tensor::cat(states.iter().map(|s| s.hidden.clone()).collect(), 0);
        let history = states.into_iter().flat_map(|s| s.history).collect();
        StormState { z, hidden, history }
    }

    fn detach(self) -> Self {
        StormState {
            z: self.z.detach(),
            hidden: self.hidden.detach(),
            history: self.history.into_iter().map(KvCache::detach).collect(),
        }
    }
}
