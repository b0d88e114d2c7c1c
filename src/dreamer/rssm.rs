//! DreamerV3's recurrent state-space model (Hafner et al. 2023, sec. 2;
//! the reference's `rssm.py`).
//!
//! The state has a deterministic part `h` (the recurrent core's state) and
//! a stochastic part `z` of `stoch` categoricals with `classes` classes.
//! One step: `h' = core(h, z, a)` (the 2023 or 2025 core, [`super::rssm_core`]); the prior `p(z' | h')` is predicted
//! from `h'` alone, the posterior `q(z' | h', e)` also sees the embedding
//! `e` of the real observation. `observe` samples `z'` from the posterior,
//! `imagine` from the prior. Samples are straight-through one-hots with 1%
//! unimix. Heads read the features `[h, z]`.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Int, Tensor};

use super::config::{InitialState, RssmConfig};
use super::rssm_core::{Core, SequenceCore};
use crate::core::{Dynamics, LatentState, Noise, Observed};
use crate::nn::dist::OneHotCategorical;
use crate::nn::fused;
use crate::nn::mlp::{DenseBlock, linear};
use crate::nn::mlp::{DenseStyle, SplitDenseBlock};
use crate::nn::tensor_util::time_step;

/// A batch of RSSM states.
#[derive(Debug, Clone)]
pub struct RssmState {
    /// Deterministic state `[B, D]`.
    pub deter: Tensor<2>,
    /// Stochastic state, flattened one-hots `[B, S * K]`.
    pub stoch: Tensor<2>,
    /// Log-probabilities of the distribution `stoch` was drawn from `[B, S, K]`.
    pub log_probs: Tensor<3>,
}

impl LatentState for RssmState {
    fn features(&self) -> Tensor<2> {
        Tensor::cat(vec![self.deter.clone(), self.stoch.clone()], 1)
    }

    fn batch(&self) -> usize {
        self.deter.dims()[0]
    }

    fn select(&self, indices: Tensor<1, Int>) -> Self {
        RssmState {
            deter: self.deter.clone().select(0, indices.clone()),
            stoch: self.stoch.clone().select(0, indices.clone()),
            log_probs: self.log_probs.clone().select(0, indices),
        }
    }

    fn cat(states: Vec<Self>) -> Self {
        let mut deter = Vec::with_capacity(states.len());
        let mut stoch = Vec::with_capacity(states.len());
        let mut log_probs = Vec::with_capacity(states.len());
        for s in states {
            deter.push(s.deter);
            stoch.push(s.stoch);
            log_probs.push(s.log_probs);
        }
        RssmState {
            deter: Tensor::cat(deter, 0),
            stoch: Tensor::cat(stoch, 0),
            log_probs: Tensor::cat(log_probs, 0),
        }
    }

    fn detach(self) -> Self {
        RssmState {
            deter: self.deter.detach(),
            stoch: self.stoch.detach(),
            log_probs: self.log_probs.detach(),
        }
    }
}

/// The RSSM's networks.
#[derive(Module, Debug)]
pub struct Rssm {
    core: Core,
    prior_hidden: Vec<DenseBlock>,
    prior_out: Linear,
    post_hidden: DenseBlock,
    post_out: Linear,
    stoch: usize,
    classes: usize,
    deter: usize,
    unimix: f32,
    action_clip: f32,
    /// The learned initial deterministic state before its `tanh`
    /// (`rssm.initial = "learned"`), `[D]`.
    initial_deter: Option<Param<Tensor<1>>>,
}

impl Rssm {
    /// An RSSM for embeddings of width `embed` and actions of width `actions`.
    pub fn new(
        config: &RssmConfig,
        norm: impl Into<DenseStyle>,
        embed: usize,
        actions: usize,
        device: &Device,
    ) -> Self {
        let norm: DenseStyle = norm.into();
        let (s, k, d, h) = (config.stoch, config.classes, config.deter, config.hidden);
        let prior_hidden = (0..config.prior_layers)
            .map(|i| DenseBlock::new(if i == 0 { d } else { h }, h, norm, device))
            .collect();
        Rssm {
            core: Core::new(config, norm, s * k, actions, device),
            prior_hidden,
            prior_out: linear(h, s * k, true, device),
            post_hidden: DenseBlock::new(d + embed, h, norm, device),
            post_out: linear(h, s * k, true, device),
            stoch: s,
            classes: k,
            deter: d,
            unimix: config.unimix,
            action_clip: config.action_clip,
            initial_deter: (config.initial == InitialState::Learned)
                .then(|| Param::from_tensor(Tensor::zeros([d], device))),
        }
    }

    /// The learned initial state of `batch` sequences, as the 2023
    /// reference makes it: `h = tanh(w)` for a learned `w`, and `z` the
    /// mode of the prior at that `h`. `None` for zeros.
    fn learned_initial(&self, batch: usize) -> Option<RssmState> {
        let w = self.initial_deter.as_ref()?.val();
        let deter = w.tanh().unsqueeze_dim::<2>(0).repeat_dim(0, batch);
        let prior = self.prior(deter.clone());
        let stoch = prior.mode().reshape([batch, self.stoch * self.classes]);
        Some(RssmState {
            deter,
            stoch,
            log_probs: prior.log_probs,
        })
    }

    /// Where `first [B, 1]` is 1, `carried` replaced by the learned initial
    /// state `initial` (or zeros without one).
    ///
    /// # Shapes
    /// `carried [B, W]`, `keep = 1 - first [B, 1]`, `initial [B, W]` -> `[B, W]`
    fn reset(carried: Tensor<2>, keep: Tensor<2>, initial: Option<Tensor<2>>) -> Tensor<2> {
        match initial {
            Some(initial) => carried * keep.clone() + initial * (keep.neg() + 1.0),
            None => carried * keep,
        }
    }

    /// Actions as the RSSM reads them: each component scaled into
    /// `[-clip, clip]` by a factor that passes no gradient (the reference's
    /// `action_clip`), so that a sampled action beyond the bounds enters
    /// the model as the clipped action the environment ran and the replay
    /// holds, and its gradient still reaches the actor. The identity on
    /// one-hot actions and when `action_clip` is 0.
    ///
    /// # Shapes
    /// `[B, A]` -> `[B, A]`
    pub fn clip_action(&self, action: Tensor<2>) -> Tensor<2> {
        if self.action_clip <= 0.0 {
            return action;
        }
        let excess = (action.clone().abs() / self.action_clip).clamp_min(1.0);
        action / excess.detach()
    }

    /// Width of the features `[h, z]`.
    pub fn feature_width(&self) -> usize {
        self.deter + self.stoch * self.classes
    }

    fn dist(&self, logits: Tensor<2>) -> OneHotCategorical<3> {
        let [b, _] = logits.dims();
        OneHotCategorical::new(logits.reshape([b, self.stoch, self.classes]), self.unimix)
    }

    fn sample(&self, dist: &OneHotCategorical<3>, noise: &mut Noise) -> Tensor<2> {
        let [b, stoch, _] = dist.log_probs.dims();
        let uniform = noise.uniform_tensor([b, stoch, 1], &dist.log_probs.device());
        let sample = dist.sample_straight_through(uniform);
        sample.reshape([b, self.stoch * self.classes])
    }

    /// The deterministic step `h' = core(h, z, a)`.
    fn step_deter(&self, state: &RssmState, action: Tensor<2>) -> Tensor<2> {
        self.core.step(
            state.deter.clone(),
            state.stoch.clone(),
            self.clip_action(action),
        )
    }

    /// The prior distribution given the deterministic state `[B, D]`
    /// (`prior_layers` dense blocks, then the logits).
    fn prior(&self, deter: Tensor<2>) -> OneHotCategorical<3> {
        let hidden = self
            .prior_hidden
            .iter()
            .fold(deter, |x, block| block.forward(x));
        self.dist(self.prior_out.forward(hidden))
    }

    /// Observe `T` steps of `B` sequences at once, for training: the same
    /// posteriors as `T` calls of [`Dynamics::observe`] (up to rounding),
    /// with fewer, larger kernels. Only what the recurrence needs runs step
    /// by step (the reset, the core, the posterior and its sample); the
    /// inputs' shares of the input and posterior layers are projected for
    /// all steps before the loop, and the priors, which nothing in the
    /// recurrence reads, for all steps after it. Prior samples, which
    /// training never reads, are not drawn.
    ///
    /// # Shapes
    /// `start` `[B]`, time-major `actions [T * B, A]`, `embed [T * B, E]`,
    /// `is_first [T * B]` -> posteriors `[T * B]`, prior log-probabilities
    /// `[T * B, S, K]`
    pub fn observe_sequence(
        &self,
        start: &RssmState,
        actions: Tensor<2>,
        embed: Tensor<2>,
        is_first: Tensor<1>,
        noise: &mut Noise,
    ) -> (RssmState, Tensor<3>) {
        let b = start.batch();
        let rows = is_first.dims()[0];
        assert!(
            rows.is_multiple_of(b),
            "observe_sequence: {rows} rows are not whole steps of {b} sequences"
        );
        let steps = rows / b;
        // Where an episode starts, the carried state and action are zeros.
        let keep = (is_first.neg() + 1.0).unsqueeze_dim::<2>(1); // [T * B, 1]
        let core = self.core.for_sequence();
        let action_part = core.project_actions(self.clip_action(actions) * keep.clone());
        let posterior = self.post_hidden.split_input(self.deter);
        let embed_part = posterior.project_tail(embed);
        let uniform = noise.uniform_tensor([rows, self.stoch, 1], &keep.device());

        let initial = self.learned_initial(b);
        if initial.is_none()
            && let Some(weights) = self.fused_observe_weights(&core, &posterior)
            && let Some((deter, stoch, log_probs)) = fused::observe_sequence(
                &start.deter,
                &start.stoch,
                &action_part,
                &embed_part,
                &keep,
                &uniform,
                &weights,
                self.classes,
                self.unimix,
            )
        {
            let prior = self.prior(deter.clone()).log_probs;
            return (
                RssmState {
                    deter,
                    stoch,
                    log_probs,
                },
                prior,
            );
        }
        let (mut deter, mut stoch) = (start.deter.clone(), start.stoch.clone());
        let mut deters = Vec::with_capacity(steps);
        let mut stochs = Vec::with_capacity(steps);
        let mut log_probs = Vec::with_capacity(steps);
        for t in 0..steps {
            let keep = time_step(&keep, t, b);
            deter = core.step(
                Self::reset(
                    deter,
                    keep.clone(),
                    initial.as_ref().map(|s| s.deter.clone()),
                ),
                Self::reset(stoch, keep, initial.as_ref().map(|s| s.stoch.clone())),
                time_step(&action_part, t, b),
            );
            let post = self.dist(
                self.post_out
                    .forward(posterior.forward(deter.clone(), time_step(&embed_part, t, b))),
            );
            stoch = post
                .sample_straight_through(time_step(&uniform, t, b))
                .reshape([b, self.stoch * self.classes]);
            deters.push(deter.clone());
            stochs.push(stoch.clone());
            log_probs.push(post.log_probs);
        }
        let deter = Tensor::cat(deters, 0);
        let prior = self.prior(deter.clone()).log_probs;
        let posteriors = RssmState {
            deter,
            stoch: Tensor::cat(stochs, 0),
            log_probs: Tensor::cat(log_probs, 0),
        };
        (posteriors, prior)
    }
}

impl Rssm {
    /// Whether [`Rssm::observe_sequence`] runs as one fused operation from
    /// `start`: the 2023 core, no learned initial state, normalised layers,
    /// on a device the fused kernels run on.
    pub fn observes_fused(&self, start: &RssmState) -> bool {
        self.initial_deter.is_none()
            && fused::runs_on(&start.deter)
            && self
                .fused_observe_weights(
                    &self.core.for_sequence(),
                    &self.post_hidden.split_input(self.deter),
                )
                .is_some()
    }

    /// The observe loop's weights for [`fused::observe_sequence`]: the 2023
    /// core whose layers are normalised alike; `None` otherwise.
    fn fused_observe_weights(
        &self,
        core: &SequenceCore<'_>,
        posterior: &SplitDenseBlock<'_>,
    ) -> Option<fused::ObserveWeights> {
        let SequenceCore::Gru { input, gru } = core else {
            return None;
        };
        let (gru_weight, gru_norm) = gru.weight_and_norm()?;
        let (in_gamma, in_beta, norm) = input.norm().fused_form(false)?;
        let (gru_gamma, gru_beta, gru_op) = gru_norm.fused_form(false)?;
        let (post_gamma, post_beta, post_op) = posterior.norm().fused_form(false)?;
        if gru_op != norm || post_op != norm {
            return None;
        }
        Some(fused::ObserveWeights {
            input: (input.head_weight(), in_gamma, in_beta),
            gru: (gru_weight, gru_gamma, gru_beta),
            post: (posterior.head_weight(), post_gamma, post_beta),
            out: (
                self.post_out.weight.val(),
                self.post_out.bias.as_ref()?.val(),
            ),
            norm,
        })
    }
}

impl Dynamics for Rssm {
    type State = RssmState;

    fn feature_width(&self) -> usize {
        Rssm::feature_width(self)
    }

    /// Zeros for `h` and `z` (a uniform distribution for the
    /// log-probabilities), or the learned initial state.
    fn initial(&self, batch: usize, device: &Device) -> RssmState {
        if let Some(initial) = self.learned_initial(batch) {
            return initial;
        }
        let uniform = -(self.classes as f32).ln();
        RssmState {
            deter: Tensor::zeros([batch, self.deter], device),
            stoch: Tensor::zeros([batch, self.stoch * self.classes], device),
            log_probs: Tensor::full([batch, self.stoch, self.classes], uniform, device),
        }
    }

    fn observe(
        &self,
        state: &RssmState,
        action: Tensor<2>,
        embed: Tensor<2>,
        is_first: Tensor<1>,
        noise: &mut Noise,
    ) -> Observed<RssmState> {
        // Where an episode starts, the previous state and action are replaced by zeros.
        let keep = (is_first.neg() + 1.0).unsqueeze_dim::<2>(1); // [B, 1]
        let initial = self.learned_initial(keep.dims()[0]);
        let state = RssmState {
            deter: Self::reset(
                state.deter.clone(),
                keep.clone(),
                initial.as_ref().map(|s| s.deter.clone()),
            ),
            stoch: Self::reset(state.stoch.clone(), keep.clone(), initial.map(|s| s.stoch)),
            log_probs: state.log_probs.clone(),
        };
        let action = action * keep;
        let deter = self.step_deter(&state, action);
        let prior = self.prior(deter.clone());
        let post = self.dist(
            self.post_out.forward(
                self.post_hidden
                    .forward(Tensor::cat(vec![deter.clone(), embed], 1)),
            ),
        );
        let post_stoch = self.sample(&post, noise);
        let prior_stoch = self.sample(&prior, noise);
        Observed {
            posterior: RssmState {
                deter: deter.clone(),
                stoch: post_stoch,
                log_probs: post.log_probs,
            },
            prior: RssmState {
                deter,
                stoch: prior_stoch,
                log_probs: prior.log_probs,
            },
        }
    }

    fn imagine(&self, state: &RssmState, action: Tensor<2>, noise: &mut Noise) -> RssmState {
        let deter = self.step_deter(state, action);
        let prior = self.prior(deter.clone());
        let stoch = self.sample(&prior, noise);
        RssmState {
            deter,
            stoch,
            log_probs: prior.log_probs,
        }
    }
}

#[cfg(test)]
mod tests;
