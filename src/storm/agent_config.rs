//! The `[storm]` section of an experiment file: the world model, the
//! actor-critic, optimisation, replay and the planner. Defaults are
//! STORM's published settings (`config_files/STORM.yaml`).

use serde::{Deserialize, Serialize};

use super::config::StormModelConfig;
use crate::config::{Validate, Validator};
use crate::dreamer::{ActorCriticSettings, ContinuationEstimate};
use crate::planners::PlannerConfig;

/// STORM's agent settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StormConfig {
    /// The world model.
    pub model: StormModelConfig,
    /// The actor and critic, learning in imagination (DreamerV3's, with
    /// STORM's horizon, discount, entropy and learning rate).
    pub actor_critic: ActorCriticSettings,
    /// The world model's Adam learning rate.
    pub model_lr: f64,
    /// The world model's Adam epsilon.
    pub model_eps: f32,
    /// Global-norm gradient clip of the world model.
    pub model_clip: f32,
    /// Replay.
    pub replay: StormReplayConfig,
    /// Replayed steps per environment step (STORM: one update of 16 x 64
    /// per step, 1,024).
    pub train_ratio: f64,
    /// How actions are chosen from the latent state (`policy`: the actor).
    pub planner: PlannerConfig,
}

/// Uniform replay of fixed-length sequences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StormReplayConfig {
    /// Steps kept before the oldest are dropped.
    pub capacity: usize,
    /// Sequences per update.
    pub batch: usize,
    /// Steps per sequence (at most `model.max_length`).
    pub length: usize,
}

impl Default for StormReplayConfig {
    fn default() -> Self {
        StormReplayConfig {
            capacity: 100_000,
            batch: 16,
            length: 64,
        }
    }
}

impl Default for StormConfig {
    fn default() -> Self {
        let mut actor_critic = ActorCriticSettings::default();
        let b = &mut actor_critic.behaviour;
        b.horizon = 16;
        b.discount = 0.985;
        b.lambda = 0.95;
        b.entropy = 3e-4;
        // A plain categorical policy, no uniform share mixed in.
        b.unimix = 0.0;
        // Imagined episodes end where the termination logit is positive.
        b.continuation = ContinuationEstimate::Mode;
        actor_critic.heads.layers = 2;
        actor_critic.heads.units = 512;
        actor_critic.lr = 3e-5;
        actor_critic.eps = 1e-5;
        actor_critic.clip = 100.0;
        StormConfig {
            model: StormModelConfig::default(),
            actor_critic,
            model_lr: 1e-4,
            model_eps: 1e-8,
            model_clip: 1000.0,
            replay: StormReplayConfig::default(),
            train_ratio: 1024.0,
            planner: PlannerConfig::default(),
        }
    }
}

impl StormConfig {
    /// A small agent for tests: [`StormModelConfig::tiny`], one hidden
    /// layer of 64 in actor and critic, batches of 8 x 16, imagination of
    /// 8 steps, learning rates of 1e-3.
    pub fn tiny() -> Self {
        let mut c = StormConfig {
            model: StormModelConfig::tiny(),
            model_lr: 1e-3,
            ..StormConfig::default()
        };
        c.actor_critic.heads.layers = 1;
        c.actor_critic.heads.units = 64;
        c.actor_critic.behaviour.horizon = 8;
        c.actor_critic.lr = 1e-3;
        c.replay.batch = 8;
        c.replay.length = 16;
        c
    }
}

impl Validate for StormConfig {
    fn validate(&self, v: &mut Validator) {
        v.section("model", |v| {
            let m = &self.model;
            v.positive("stoch", m.stoch);
            v.positive("classes", m.classes);
            v.in_range("unimix", m.unimix, 0.0, 1.0);
            v.positive("width", m.width);
            v.positive("heads", m.heads);
            v.check(
                m.heads == 0 || m.width.is_multiple_of(m.heads),
                "heads",
                format!("must divide the width ({})", m.width),
            );
            v.positive("layers", m.layers);
            v.positive("feed_forward", m.feed_forward);
            v.in_range("dropout", m.dropout, 0.0, 0.99);
            v.in_range("max_length", m.max_length, 2, 100_000);
            v.positive("head_units", m.head_units);
            v.in_range("free_nats", m.free_nats, 0.0, 1e6);
            v.in_range("dynamics_scale", m.dynamics_scale, 0.0, 1e6);
            v.in_range("representation_scale", m.representation_scale, 0.0, 1e6);
            v.check(
                m.context >= 1 && m.context + self.actor_critic.behaviour.horizon <= m.max_length,
                "context",
                format!(
                    "must be at least 1 and, with the imagination horizon ({}), at most \
                     max_length ({})",
                    self.actor_critic.behaviour.horizon, m.max_length
                ),
            );
            v.positive("encoder.mlp_units", m.encoder.mlp_units);
            v.positive("encoder.cnn_depth", m.encoder.cnn_depth);
        });
        v.section("actor_critic", |v| self.actor_critic.validate(v));
        v.positive("model_lr", self.model_lr);
        v.positive("model_eps", self.model_eps);
        v.positive("model_clip", self.model_clip);
        v.section("replay", |v| {
            let r = &self.replay;
            v.positive("batch", r.batch);
            v.check(
                r.length >= 2 && r.length <= self.model.max_length,
                "length",
                format!("must be 2 to model.max_length ({})", self.model.max_length),
            );
            v.check(
                r.capacity >= r.length,
                "capacity",
                "must hold at least one sequence",
            );
        });
        v.positive("train_ratio", self.train_ratio);
        v.section("planner", |v| self.planner.validate(v));
    }
}
