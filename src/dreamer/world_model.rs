//! The DreamerV3 world model and its loss (Hafner et al. 2023, eq. 3-5).
//!
//! `L = scale_pred (L_decoder + L_reward + L_continue) + 0.5 L_dyn + 0.1 L_rep`,
//! each term averaged over the batch and time. Sequences are observed with
//! the posterior; every posterior state is returned (detached) as a start
//! for imagination.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::config::{DreamerConfig, LossScales};
use super::networks::{ContinueHead, ObsDecoder, ObsEncoder, RewardHead};
use super::rssm::{Rssm, RssmState};
use crate::core::{
    ContinueModel, Dynamics, Encoder, LatentState, Noise, ObsBatch, ObsKind, ObservationModel,
    ObservationPrediction, RewardModel, WorldModel,
};
use crate::nn::dist::kl::balanced_kl;
use crate::nn::dist::{Bernoulli, BinnedScalar};
use crate::nn::tensor_util::tensor_from_vec;
use crate::replay::SequenceBatch;

/// Encoder, RSSM, decoder, reward and continue heads.
#[derive(Module, Debug)]
pub struct DreamerWorldModel {
    /// Observation encoder.
    pub encoder: ObsEncoder,
    /// Recurrent state-space model.
    pub rssm: Rssm,
    /// Observation decoder.
    pub decoder: ObsDecoder,
    /// Reward head.
    pub reward_head: RewardHead,
    /// Continue head.
    pub continue_head: ContinueHead,
}

impl DreamerWorldModel {
    /// A world model for observations of `obs_kind` and `actions`-wide actions.
    pub fn new(config: &DreamerConfig, obs_kind: ObsKind, actions: usize, device: &Device) -> Self {
        let encoder = ObsEncoder::new(obs_kind, &config.encoder, config.dense_style(), device);
        let rssm = Rssm::new(
            &config.rssm,
            config.dense_style(),
            encoder.embed_width(),
            actions,
            device,
        );
        let features = rssm.feature_width();
        DreamerWorldModel {
            decoder: ObsDecoder::new(
                obs_kind,
                features,
                config.rssm.deter,
                &config.encoder,
                config.dense_style(),
                device,
            ),
            reward_head: RewardHead::new(features, &config.heads, config.dense_style(), device),
            continue_head: ContinueHead::new(features, &config.heads, config.dense_style(), device),
            encoder,
            rssm,
        }
    }
}

impl WorldModel for DreamerWorldModel {
    type Dynamics = Rssm;

    fn dynamics(&self) -> &Rssm {
        &self.rssm
    }

    fn reward(&self, features: Tensor<2>) -> BinnedScalar {
        self.reward_head.reward(features)
    }

    fn continuation(&self, features: Tensor<2>) -> Option<Bernoulli> {
        Some(self.continue_head.continuation(features))
    }
}

impl Encoder for DreamerWorldModel {
    fn embed_width(&self) -> usize {
        self.encoder.embed_width()
    }

    fn encode(&self, obs: &ObsBatch) -> Tensor<2> {
        self.encoder.encode(obs)
    }
}

impl ObservationModel for DreamerWorldModel {
    fn decode(&self, features: Tensor<2>) -> ObservationPrediction {
        self.decoder.decode(features)
    }
}

/// The world model's loss terms, each a mean over batch and time `[1]`
/// (or, as [`ObserveOutput::step_losses`], per step `[T * B]`). Field
/// names match [`LossScales`] and the logged `loss/<name>` metrics.
#[derive(Debug, Clone)]
pub struct WorldModelLosses {
    /// Reconstruction.
    pub decoder: Tensor<1>,
    /// Reward cross-entropy.
    pub reward: Tensor<1>,
    /// Continue negative log-likelihood.
    pub continuation: Tensor<1>,
    /// `max(free, KL(sg(post) || prior))`.
    pub dynamics: Tensor<1>,
    /// `max(free, KL(post || sg(prior)))`.
    pub representation: Tensor<1>,
}

impl WorldModelLosses {
    /// The scaled sum.
    pub fn total(&self, scales: &LossScales) -> Tensor<1> {
        self.decoder.clone() * scales.decoder
            + self.reward.clone() * scales.reward
            + self.continuation.clone() * scales.continuation
            + self.dynamics.clone() * scales.dynamics
            + self.representation.clone() * scales.representation
    }

    /// Each term's mean over its rows.
    pub fn mean(&self) -> WorldModelLosses {
        self.map(|t| t.mean())
    }

    /// Each term without its graph.
    pub fn detach(&self) -> WorldModelLosses {
        self.map(|t| t.detach())
    }

    fn map(&self, f: impl Fn(Tensor<1>) -> Tensor<1>) -> WorldModelLosses {
        WorldModelLosses {
            decoder: f(self.decoder.clone()),
            reward: f(self.reward.clone()),
            continuation: f(self.continuation.clone()),
            dynamics: f(self.dynamics.clone()),
            representation: f(self.representation.clone()),
        }
    }

    /// `(name, tensor)` pairs for logging.
    pub fn named(&self) -> [(&'static str, &Tensor<1>); 5] {
        [
            ("decoder", &self.decoder),
            ("reward", &self.reward),
            ("continuation", &self.continuation),
            ("dynamics", &self.dynamics),
            ("representation", &self.representation),
        ]
    }
}

/// What one pass of the world model over a batch of sequences yields.
#[derive(Debug, Clone)]
pub struct ObserveOutput {
    /// The loss terms.
    pub losses: WorldModelLosses,
    /// The loss terms of every step, time-major `[T * B]`, detached (the
    /// replay's priorities).
    pub step_losses: WorldModelLosses,
    /// Every posterior state, time-major `[T * B]`, detached: imagination starts.
    pub posteriors: RssmState,
    /// `1 - is_terminal` of each posterior state `[T * B]`.
    pub continues: Tensor<1>,
    /// The raw (unclipped) KL, mean, for logging.
    pub kl: Tensor<1>,
}

/// A replay batch moved onto a device.
#[derive(Debug, Clone)]
pub struct DeviceBatch {
    /// Observations, time-major `[T * B, ..]`.
    pub obs: ObsBatch,
    /// Actions before each observation `[T * B, A]`.
    pub actions: Tensor<2>,
    /// Rewards `[T * B]`.
    pub rewards: Tensor<1>,
    /// First-step flags `[T * B]`.
    pub is_first: Tensor<1>,
    /// Terminal flags `[T * B]`.
    pub is_terminal: Tensor<1>,
    /// `B`.
    pub batch: usize,
    /// `T`.
    pub length: usize,
    /// The stored latent state each sequence starts from (`h` `[B, D]`,
    /// `z` one-hots `[B, S * K]`; the 2025 design's replay context),
    /// zeros where a sequence starts afresh.
    pub start: Option<(Tensor<2>, Tensor<2>)>,
    /// Where each row is kept in the replay, `(stream, slot)` `[T * B]`.
    pub positions: Vec<(u32, u32)>,
}

impl DeviceBatch {
    /// Upload a sampled batch.
    pub fn new(batch: SequenceBatch, obs_kind: ObsKind, device: &Device) -> Self {
        let rows = batch.batch * batch.length;
        let actions = batch.actions.len() / rows;
        let b = batch.batch;
        let start = batch.start.map(|start| {
            let (d, z) = (start.deter.len() / b, start.stoch.len() / b);
            (
                tensor_from_vec(start.deter, [b, d], device),
                tensor_from_vec(start.stoch, [b, z], device),
            )
        });
        DeviceBatch {
            obs: ObsBatch::from_flat(batch.obs, rows, obs_kind, device),
            actions: tensor_from_vec(batch.actions, [rows, actions], device),
            rewards: tensor_from_vec(batch.rewards, [rows], device),
            is_first: tensor_from_vec(batch.is_first, [rows], device),
            is_terminal: tensor_from_vec(batch.is_terminal, [rows], device),
            batch: batch.batch,
            length: batch.length,
            start,
            positions: batch.positions,
        }
    }
}

impl DreamerWorldModel {
    /// Observe a batch of sequences and compute the losses.
    pub fn observe_sequences(
        &self,
        data: &DeviceBatch,
        free_nats: f32,
        noise: &mut Noise,
    ) -> ObserveOutput {
        let b = data.batch;
        let device = data.actions.device();
        let embed = self.encoder.encode(&data.obs); // [T * B, E]
        let mut state = self.rssm.initial(b, &device);
        if let Some((deter, stoch)) = &data.start {
            // Sequences without a stored start are marked first, so the
            // zeros there are reset to the initial state anyway.
            state.deter = deter.clone();
            state.stoch = stoch.clone();
        }
        let (post, prior) = self.rssm.observe_sequence(
            &state,
            data.actions.clone(),
            embed,
            data.is_first.clone(),
            noise,
        );
        let features = post.features(); // [T * B, F]
        let kl = balanced_kl(post.log_probs.clone(), prior, free_nats);
        let continues = data.is_terminal.clone().neg() + 1.0;
        let step_losses = WorldModelLosses {
            decoder: self.decoder.decode(features.clone()).loss(&data.obs),
            reward: self
                .reward_head
                .reward(features.clone())
                .loss(data.rewards.clone()),
            continuation: self
                .continue_head
                .continuation(features)
                .log_prob(continues.clone())
                .neg(),
            dynamics: kl.dynamics,
            representation: kl.representation,
        };
        ObserveOutput {
            losses: step_losses.mean(),
            step_losses: step_losses.detach(),
            posteriors: post.detach(),
            continues,
            kl: kl.raw.mean(),
        }
    }
}
