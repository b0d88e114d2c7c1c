//! Output distributions of world models and policies.
//!
//! - [`BinnedScalar`]: a scalar predicted as a categorical over evenly spaced
//!   bins in a transformed space, trained by cross-entropy against a twohot
//!   target. With the symlog transform and 255 bins on [-20, 20] it is
//!   DreamerV3's reward and critic head; with MuZero's `h` transform and the
//!   integer support [-300, 300] it is MuZero's value and reward head.
//! - [`OneHotCategorical`]: DreamerV3's latent and policy categoricals with
//!   unimix and straight-through sampling.
//! - [`Bernoulli`]: the continue head.
//! - [`BoundedNormal`]: DreamerV3's continuous-action policy.
//! - [`kl`]: KL divergence between categoricals and free bits.
//!
//! Random draws come from the caller's noise tensors (see [`crate::core::Noise`])
//! so that runs are reproducible and the random state can be checkpointed.

mod bernoulli;
mod binned;
mod categorical;
pub mod kl;
mod normal;

pub use bernoulli::Bernoulli;
pub use binned::{BinSpace, BinnedScalar, ScalarTransform};
pub use categorical::{OneHotCategorical, sample_one_hot};
pub use normal::BoundedNormal;
