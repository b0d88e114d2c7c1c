//! burn building blocks shared by every agent.
//!
//! Layers ([`mlp`], [`cnn`], [`gru`], [`norm`]) follow DreamerV3's choices:
//! linear layers without bias before a normalisation, SiLU activations,
//! LayerNorm (2023) or RMSNorm (2025). Distributions ([`dist`]) are the
//! output heads of world models and policies; [`symlog`] and [`support`]
//! are the scalar transforms that make one set of hyperparameters work
//! across reward scales.

pub mod cnn;
pub mod cnn_pooled;
pub mod dist;
pub mod ema;
pub mod fused;
pub mod grad;
pub mod gru;
pub mod kv_cache;
pub mod laprop;
pub mod loss_scale;
pub mod master_weights;
pub mod mlp;
pub mod norm;
#[cfg(test)]
pub(crate) mod recorded;
pub mod resnet;
pub mod support;
pub mod symlog;
pub mod tensor_util;
pub mod transformer;

pub use tensor_util::check_dims;
