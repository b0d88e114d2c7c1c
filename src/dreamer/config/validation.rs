//! The checks that a DreamerV3 config makes sense before a run starts:
//! each names its section and key, so a bad experiment file is reported
//! with the field to fix.

use super::*;

impl Validate for DreamerConfig {
    fn validate(&self, v: &mut Validator) {
        v.positive("train_ratio", self.train_ratio);
        v.section("rssm", |v| {
            let r = &self.rssm;
            v.positive("deter", r.deter);
            v.positive("hidden", r.hidden);
            v.positive("stoch", r.stoch);
            v.in_range("classes", r.classes, 2, 4096);
            v.in_range("unimix", r.unimix, 0.0, 1.0);
            v.positive("blocks", r.blocks);
            v.in_range("prior_layers", r.prior_layers, 1, 16);
            v.check(
                r.core != CoreKind::BlockGru || r.deter.is_multiple_of(r.blocks),
                "blocks",
                format!(
                    "deter ({}) must be divisible by blocks ({})",
                    r.deter, r.blocks
                ),
            );
            v.in_range("free_nats", r.free_nats, 0.0, 100.0);
            v.in_range("action_clip", r.action_clip, 0.0, 1e6);
        });
        v.section("encoder", |v| {
            v.positive("mlp_units", self.encoder.mlp_units);
            v.positive("cnn_depth", self.encoder.cnn_depth);
            v.positive("min_resolution", self.encoder.min_resolution);
            let e = &self.encoder;
            if e.cnn == CnnKind::Pooled {
                v.check(
                    !e.cnn_mults.is_empty() && e.cnn_mults.iter().all(|&m| m > 0),
                    "cnn_mults",
                    format!("must be one or more positive multipliers, got {:?}", e.cnn_mults),
                );
                v.check(
                    e.cnn_kernel % 2 == 1,
                    "cnn_kernel",
                    format!("must be odd (same padding), got {}", e.cnn_kernel),
                );
                let top = e.cnn_depth * e.cnn_mults.last().copied().unwrap_or(1);
                let blocks = e.cnn_decoder_blocks;
                v.check(
                    blocks == 0
                        || (top.is_multiple_of(blocks) && self.rssm.deter.is_multiple_of(blocks)),
                    "cnn_decoder_blocks",
                    format!(
                        "must divide the last stage's channels ({top}) and rssm.deter ({}), got {blocks}",
                        self.rssm.deter
                    ),
                );
            }
        });
        v.section("heads", |v| {
            v.positive("units", self.heads.units);
            v.in_range("bins", self.heads.bins, 2, 4096);
            let h = &self.heads;
            v.in_range("layers", h.layers, 0, 64);
            v.in_range("actor_outscale", h.actor_outscale, 0.0, 100.0);
            for (key, own) in [
                ("reward_layers", h.reward_layers),
                ("continue_layers", h.continue_layers),
                ("actor_layers", h.actor_layers),
                ("critic_layers", h.critic_layers),
            ] {
                if let Some(layers) = own {
                    v.in_range(key, layers, 0, 64);
                }
            }
        });
        v.section("behaviour", |v| {
            let b = &self.behaviour;
            v.positive("horizon", b.horizon);
            v.in_range("discount", b.discount, 0.0, 1.0);
            v.in_range("lambda", b.lambda, 0.0, 1.0);
            v.in_range("unimix", b.unimix, 0.0, 1.0);
            v.check(
                b.min_std > 0.0 && b.min_std < b.max_std,
                "min_std",
                "must be positive and below max_std",
            );
            v.in_range("return_norm_rate", b.return_norm_rate, 0.0, 1.0);
            v.check(
                b.return_norm_low < b.return_norm_high
                    && b.return_norm_low >= 0.0
                    && b.return_norm_high <= 100.0,
                "return_norm_low",
                "percentiles must satisfy 0 <= low < high <= 100",
            );
            v.in_range("slow_critic_rate", b.slow_critic_rate, 0.0, 1.0);
            v.positive("slow_critic_every", b.slow_critic_every);
        });
        v.section("loss_scales", |v| {
            v.in_range("replay_critic", self.loss_scales.replay_critic, 0.0, 100.0);
        });
        v.section("optimizer", |v| {
            let o = &self.optimizer;
            v.positive("agc", o.agc);
            v.positive("model_lr", o.model_lr);
            v.positive("actor_lr", o.actor_lr);
            v.positive("critic_lr", o.critic_lr);
            v.positive("laprop_lr", o.laprop_lr);
            v.positive("model_eps", o.model_eps);
            v.positive("actor_critic_eps", o.actor_critic_eps);
            v.positive("model_clip", o.model_clip);
            v.positive("actor_critic_clip", o.actor_critic_clip);
        });
        v.section("planner", |v| self.planner.validate(v));
        v.section("replay", |v| {
            v.positive("batch", self.replay.batch);
            v.in_range("length", self.replay.length, 2, 100_000);
            v.check(
                self.replay.capacity >= self.replay.length + self.replay.context,
                "capacity",
                "must hold at least one sequence and its context",
            );
            v.check(
                self.replay.context == 0 || self.rssm.classes <= 256,
                "context",
                format!(
                    "stored latents keep a class index in a byte; rssm.classes is {}",
                    self.rssm.classes
                ),
            );
            v.section("fracs", |v| self.replay.fracs.validate(v));
            v.section("prio", |v| self.replay.prio.validate(v));
            v.check(
                self.replay.recexp.is_finite() && self.replay.recexp >= 0.0,
                "recexp",
                format!("must be finite and at least 0, got {}", self.replay.recexp),
            );
        });
    }
}
