//! DreamerV3's optimisers: Adam with per-module rates and global-norm
//! clipping (2023), or LaProp with one warmed-up rate and adaptive
//! per-tensor clipping (2025).

use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::nn::laprop::Laprop;
use crate::nn::master_weights::optimizer_for;

/// Optimiser choice and settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerConfig {
    /// `adam` (2023: Adam and global-norm clipping, a rate per module) or
    /// `laprop` (2025: LaProp with per-tensor adaptive gradient clipping,
    /// one warmed-up rate for every module).
    pub kind: OptimizerKind,
    /// World-model learning rate.
    pub model_lr: f64,
    /// Actor learning rate.
    pub actor_lr: f64,
    /// Critic learning rate (the reference gives actor and critic an
    /// optimiser each, both at 3e-5).
    pub critic_lr: f64,
    /// Adam epsilon of the world model.
    pub model_eps: f32,
    /// Adam epsilon of actor and critic.
    pub actor_critic_eps: f32,
    /// Global-norm gradient clip of the world model.
    pub model_clip: f32,
    /// Global-norm gradient clip of actor and critic.
    pub actor_critic_clip: f32,
    /// LaProp learning rate (2025).
    pub laprop_lr: f64,
    /// Adaptive gradient clipping ratio (2025).
    pub agc: f32,
    /// Linear learning-rate warmup in updates (2025).
    pub warmup: usize,
}

/// Which optimiser design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam with global-norm clipping (2023).
    Adam,
    /// LaProp with adaptive gradient clipping and warmup (2025).
    Laprop,
}

impl OptimizerConfig {
    /// The optimiser of one module on `device`: Adam with `adam_eps`, or
    /// LaProp with adaptive gradient clipping; with f32 master weights when
    /// the device computes in half precision ([`optimizer_for`]).
    pub fn build(&self, adam_eps: f32, device: &Device) -> ModuleOptimizer {
        match self.kind {
            OptimizerKind::Adam => {
                optimizer_for(AdamConfig::new().with_epsilon(adam_eps).build(), device)
            }
            OptimizerKind::Laprop => optimizer_for(
                Laprop {
                    agc: self.agc,
                    ..Laprop::default()
                },
                device,
            ),
        }
    }

    /// The learning rate of update number `update` (from 0) for a module
    /// whose Adam rate is `adam_lr`; LaProp uses one rate for every module,
    /// warmed up linearly over `warmup` updates from 0 at the first, as the
    /// 2025 code's `optax.linear_schedule(0, lr, warmup)` does.
    pub fn lr(&self, adam_lr: f64, update: u64) -> f64 {
        match self.kind {
            OptimizerKind::Adam => adam_lr,
            OptimizerKind::Laprop => {
                let warm = (update as f64 / self.warmup.max(1) as f64).min(1.0);
                self.laprop_lr * warm
            }
        }
    }

    /// The global-norm clip for a module whose Adam clip is `adam_clip`;
    /// LaProp clips per tensor instead (infinite: the norm is still logged).
    pub fn global_clip(&self, adam_clip: f32) -> f32 {
        match self.kind {
            OptimizerKind::Adam => adam_clip,
            OptimizerKind::Laprop => f32::INFINITY,
        }
    }
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            kind: OptimizerKind::Adam,
            model_lr: 1e-4,
            actor_lr: 3e-5,
            critic_lr: 3e-5,
            model_eps: 1e-8,
            actor_critic_eps: 1e-5,
            model_clip: 1000.0,
            actor_critic_clip: 100.0,
            laprop_lr: 4e-5,
            agc: 0.3,
            warmup: 1000,
        }
    }
}
