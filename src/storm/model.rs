//! STORM's networks (`sub_models/world_models.py`,
//! `transformer_model.py`): the posterior from the observation's embedding
//! alone, the action mixer, the causal transformer, the prior, reward and
//! termination heads on its hidden state, and a decoder from `z` alone.
//!
//! Images go through STORM's BatchNorm CNN ([`super::cnn`]); vectors,
//! which STORM (Atari only) never saw, through DreamerV3's MLPs.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::cnn::{StormDecoder, StormEncoder};
use super::config::StormModelConfig;
use super::state::StormState;
use crate::core::{
    Dynamics, Encoder, Noise, ObsBatch, ObsKind, ObservationModel, ObservationPrediction, Observed,
    WorldModel,
};
use crate::nn::dist::{Bernoulli, BinSpace, BinnedScalar, OneHotCategorical};
use crate::nn::kv_cache::KvCache;
use crate::nn::mlp::linear;
use crate::nn::transformer::{CausalTransformer, TransformerShape};

/// Linear (no bias), LayerNorm, ReLU: STORM's dense block.
#[derive(Module, Debug)]
struct ReluBlock {
    linear: Linear,
    norm: LayerNorm,
}

impl ReluBlock {
    fn new(input: usize, output: usize, device: &Device) -> Self {
        ReluBlock {
            linear: linear(input, output, false, device),
            norm: LayerNormConfig::new(output).init(device),
        }
    }

    fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        relu(self.norm.forward(self.linear.forward(x)))
    }
}

/// STORM's reward and termination heads: ReLU blocks, then an output layer.
#[derive(Module, Debug)]
pub struct StormHead {
    blocks: Vec<ReluBlock>,
    out: Linear,
}

impl StormHead {
    pub(super) fn new(
        input: usize,
        outputs: usize,
        config: &StormModelConfig,
        device: &Device,
    ) -> Self {
        let blocks: Vec<ReluBlock> = (0..config.head_layers)
            .map(|i| {
                let from = if i == 0 { input } else { config.head_units };
                ReluBlock::new(from, config.head_units, device)
            })
            .collect();
        let width = if blocks.is_empty() {
            input
        } else {
            config.head_units
        };
        StormHead {
            blocks,
            out: linear(width, outputs, true, device),
        }
    }

    /// # Shapes
    /// `[B, input]` -> `[B, outputs]`
    pub(super) fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = self.blocks.iter().fold(x, |x, block| block.forward(x));
        self.out.forward(x)
    }
}

/// The token of a step: `cat[z, a]` through Linear (no bias), LayerNorm,
/// ReLU, Linear (no bias), LayerNorm.
#[derive(Module, Debug)]
struct ActionMixer {
    input: ReluBlock,
    output: Linear,
    output_norm: LayerNorm,
}

impl ActionMixer {
    /// # Shapes
    /// `z [.., S * K]`, `action [.., A]` -> `[.., W]`
    fn forward<const D: usize>(&self, z: Tensor<D>, action: Tensor<D>) -> Tensor<D> {
        let x = self.input.forward(Tensor::cat(vec![z, action], D - 1));
        self.output_norm.forward(self.output.forward(x))
    }
}

/// How the latent state moves: posterior, action mixer, transformer, prior.
#[derive(Module, Debug)]
pub struct StormDynamics {
    posterior: Linear,
    mixer: ActionMixer,
    transformer: CausalTransformer,
    prior: Linear,
    stoch: usize,
    classes: usize,
    unimix: f32,
    width: usize,
}

impl StormDynamics {
    pub(super) fn new(
        config: &StormModelConfig,
        embed: usize,
        actions: usize,
        device: &Device,
    ) -> Self {
        let (latent, w) = (config.latent_width(), config.width);
        StormDynamics {
            posterior: linear(embed, latent, true, device),
            mixer: ActionMixer {
                input: ReluBlock::new(latent + actions, w, device),
                output: linear(w, w, false, device),
                output_norm: LayerNormConfig::new(w).init(device),
            },
            transformer: CausalTransformer::new(
                TransformerShape {
                    width: w,
                    heads: config.heads,
                    layers: config.layers,
                    feed_forward: config.feed_forward,
                    max_length: config.max_length,
                    dropout: config.dropout,
                },
                device,
            ),
            prior: linear(w, latent, true, device),
            stoch: config.stoch,
            classes: config.classes,
            unimix: config.unimix,
            width: w,
        }
    }

    /// Width `S * K` of a latent sample.
    pub fn latent_width(&self) -> usize {
        self.stoch * self.classes
    }

    fn dist(&self, logits: Tensor<2>) -> OneHotCategorical<3> {
        let [b, _] = logits.dims();
        OneHotCategorical::new(logits.reshape([b, self.stoch, self.classes]), self.unimix)
    }

    /// A straight-through sample `[B, S * K]`.
    pub fn sample(&self, dist: &OneHotCategorical<3>, noise: &mut Noise) -> Tensor<2> {
        let [b, stoch, _] = dist.log_probs.dims();
        let uniform = noise.uniform_tensor([b, stoch, 1], &dist.log_probs.device());
        dist.sample_straight_through(uniform)
            .reshape([b, self.latent_width()])
    }

    /// The posterior from embeddings `[N, E]` alone.
    pub fn posterior(&self, embed: Tensor<2>) -> OneHotCategorical<3> {
        self.dist(self.posterior.forward(embed))
    }

    /// The prior of the next latent from hidden states `[N, W]`.
    pub fn prior(&self, hidden: Tensor<2>) -> OneHotCategorical<3> {
        self.dist(self.prior.forward(hidden))
    }

    /// The tokens of latents and the actions taken from them.
    ///
    /// # Shapes
    /// `z [.., S * K]`, `action [.., A]` -> `[.., W]`
    pub fn tokens<const D: usize>(&self, z: Tensor<D>, action: Tensor<D>) -> Tensor<D> {
        self.mixer.forward(z, action)
    }

    /// The transformer.
    pub fn transformer(&self) -> &CausalTransformer {
        &self.transformer
    }

    /// Append the token of `state.z` and `action` to the history (invalid
    /// where `valid` is 0); the new hidden state `[B, W]` and history. A
    /// history that has filled the position embedding is first rebuilt
    /// over its latest half.
    fn advance(
        &self,
        mut history: KvCache,
        z: Tensor<2>,
        action: Tensor<2>,
        valid: Option<Tensor<1>>,
    ) -> (Tensor<2>, KvCache) {
        let max = self.transformer.max_length();
        if history.columns() >= max {
            history = self.transformer.rebuild(&history, max / 2);
        }
        let [b, _] = z.dims();
        let token = self.tokens(z, action).unsqueeze_dim::<3>(1);
        let hidden = self.transformer.step(token, &mut history, valid);
        (hidden.reshape([b, self.width]), history)
    }
}

impl Dynamics for StormDynamics {
    type State = StormState;

    fn feature_width(&self) -> usize {
        self.latent_width() + self.width
    }

    fn initial(&self, batch: usize, device: &Device) -> StormState {
        StormState::new(
            Tensor::zeros([batch, self.latent_width()], device),
            Tensor::zeros([batch, self.width], device),
            self.transformer.empty_cache(batch, device),
        )
    }

    /// Where `is_first` is 1 the history is forgotten and no token is
    /// added: the episode starts with this observation, whose latent comes
    /// from the posterior and whose hidden state is zero.
    fn observe(
        &self,
        state: &StormState,
        action: Tensor<2>,
        embed: Tensor<2>,
        is_first: Tensor<1>,
        noise: &mut Noise,
    ) -> Observed<StormState> {
        let mut history = state.history();
        history.forget(is_first.clone());
        let continuing = is_first.neg() + 1.0;
        let (hidden, history) =
            self.advance(history, state.z.clone(), action, Some(continuing.clone()));
        let hidden = hidden * continuing.unsqueeze_dim::<2>(1);
        let posterior = self.sample(&self.posterior(embed), noise);
        let prior = self.sample(&self.prior(hidden.clone()), noise);
        Observed {
            posterior: StormState::new(posterior, hidden.clone(), history.clone()),
            prior: StormState::new(prior, hidden, history),
        }
    }

    fn imagine(&self, state: &StormState, action: Tensor<2>, noise: &mut Noise) -> StormState {
        let (hidden, history) = self.advance(state.history(), state.z.clone(), action, None);
        let z = self.sample(&self.prior(hidden.clone()), noise);
        StormState::new(z, hidden, history)
    }
}

/// Encoder, dynamics, decoder, reward and termination heads.
#[derive(Module, Debug)]
pub struct StormWorldModel {
    /// Observation encoder.
    pub encoder: StormEncoder,
    /// Posterior, action mixer, transformer, prior.
    pub dynamics: StormDynamics,
    /// Observation decoder, from `z` alone.
    pub decoder: StormDecoder,
    reward_head: StormHead,
    termination_head: StormHead,
}

impl StormWorldModel {
    /// A model for observations of `obs_kind` and `actions`-wide actions.
    pub fn new(
        config: &StormModelConfig,
        obs_kind: ObsKind,
        actions: usize,
        device: &Device,
    ) -> Self {
        let encoder = StormEncoder::new(obs_kind, config, device);
        let dynamics = StormDynamics::new(config, encoder.embed_width(), actions, device);
        let latent = config.latent_width();
        StormWorldModel {
            decoder: StormDecoder::new(obs_kind, latent, config, device),
            reward_head: StormHead::new(config.width, BinSpace::dreamer().bins, config, device),
            termination_head: StormHead::new(config.width, 1, config, device),
            encoder,
            dynamics,
        }
    }

    /// The hidden-state columns `[B, W]` of features `[B, S * K + W]`.
    fn hidden_of(&self, features: Tensor<2>) -> Tensor<2> {
        let [b, f] = features.dims();
        features.slice([0..b, self.dynamics.latent_width()..f])
    }

    /// Termination logits `[B]` from hidden states `[B, W]`.
    pub fn termination_logits(&self, hidden: Tensor<2>) -> Tensor<1> {
        let [b, _] = hidden.dims();
        self.termination_head.forward(hidden).reshape([b])
    }

    /// Whether episodes continue, from hidden states `[B, W]`.
    pub fn continuation_of_hidden(&self, hidden: Tensor<2>) -> Bernoulli {
        Bernoulli::new(self.termination_logits(hidden).neg())
    }

    /// The reward from hidden states `[B, W]`.
    pub fn reward_of_hidden(&self, hidden: Tensor<2>) -> BinnedScalar {
        BinnedScalar::new(self.reward_head.forward(hidden), BinSpace::dreamer())
    }
}

impl Encoder for StormWorldModel {
    fn embed_width(&self) -> usize {
        self.encoder.embed_width()
    }

    fn encode(&self, obs: &ObsBatch) -> Tensor<2> {
        self.encoder.encode(obs)
    }
}

impl ObservationModel for StormWorldModel {
    /// STORM decodes from the latent `z` of the features `[z, h]` alone.
    fn decode(&self, features: Tensor<2>) -> ObservationPrediction {
        let [b, _] = features.dims();
        let z = features.slice([0..b, 0..self.dynamics.latent_width()]);
        self.decoder.decode(z)
    }
}

impl WorldModel for StormWorldModel {
    type Dynamics = StormDynamics;

    fn dynamics(&self) -> &StormDynamics {
        &self.dynamics
    }

    /// The reward head reads the hidden state `h` of the features `[z, h]`.
    fn reward(&self, features: Tensor<2>) -> BinnedScalar {
        self.reward_of_hidden(self.hidden_of(features))
    }

    /// The episode continues where the termination logit is negative.
    fn continuation(&self, features: Tensor<2>) -> Option<Bernoulli> {
        Some(self.continuation_of_hidden(self.hidden_of(features)))
    }
}
