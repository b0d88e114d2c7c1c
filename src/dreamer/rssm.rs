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

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Int, Tensor};

use super::config::RssmConfig;
use super::rssm_core::Core;
use crate::core::{Dynamics, LatentState, Noise, Observed};
use crate::nn::dist::OneHotCategorical;
use crate::nn::mlp::{DenseBlock, linear};
use crate::nn::norm::NormKind;
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
}

impl Rssm {
    /// An RSSM for embeddings of width `embed` and actions of width `actions`.
    pub fn new(
        config: &RssmConfig,
        norm: NormKind,
        embed: usize,
        actions: usize,
        device: &Device,
    ) -> Self {
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

        let (mut deter, mut stoch) = (start.deter.clone(), start.stoch.clone());
        let mut deters = Vec::with_capacity(steps);
        let mut stochs = Vec::with_capacity(steps);
        let mut log_probs = Vec::with_capacity(steps);
        for t in 0..steps {
            let keep = time_step(&keep, t, b);
            deter = core.step(
                deter * keep.clone(),
                stoch * keep,
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

impl Dynamics for Rssm {
    type State = RssmState;

    fn feature_width(&self) -> usize {
        Rssm::feature_width(self)
    }

    /// Zeros for `h` and `z` (a uniform distribution for the log-probabilities).
    fn initial(&self, batch: usize, device: &Device) -> RssmState {
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
        let state = RssmState {
            deter: state.deter.clone() * keep.clone(),
            stoch: state.stoch.clone() * keep.clone(),
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
mod tests {
    use super::*;
    use crate::dreamer::config::CoreKind;
    use crate::nn::tensor_util::{tensor_from_vec, to_vec};

    fn tiny() -> RssmConfig {
        RssmConfig {
            deter: 8,
            hidden: 8,
            stoch: 2,
            classes: 3,
            ..RssmConfig::default()
        }
    }

    #[test]
    fn observe_and_imagine_keep_shapes_and_one_hot_samples() {
        let device = Device::flex();
        for core in [CoreKind::Gru, CoreKind::BlockGru] {
            let config = RssmConfig {
                core,
                blocks: 2,
                ..tiny()
            };
            let rssm = Rssm::new(&config, NormKind::Layer, 5, 2, &device);
            let mut noise = Noise::new(0);
            let s0 = rssm.initial(3, &device);
            let out = rssm.observe(
                &s0,
                Tensor::zeros([3, 2], &device),
                Tensor::ones([3, 5], &device),
                Tensor::ones([3], &device),
                &mut noise,
            );
            assert_eq!(out.posterior.features().dims(), [3, 8 + 6]);
            let z = to_vec(out.posterior.stoch.clone());
            for latent in z.chunks(3) {
                let ones = latent.iter().filter(|v| (**v - 1.0).abs() < 1e-6).count();
                let zeros = latent.iter().filter(|v| v.abs() < 1e-6).count();
                assert_eq!((ones, zeros), (1, 2), "one class per latent: {latent:?}");
            }
            let next = rssm.imagine(
                &out.posterior,
                tensor_from_vec(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0], [3, 2], &device),
                &mut noise,
            );
            assert_eq!(next.deter.dims(), [3, 8]);
            assert_eq!(next.log_probs.dims(), [3, 2, 3]);
        }
    }

    #[test]
    fn a_sequence_observed_at_once_matches_step_by_step() {
        let device = Device::flex();
        let (b, steps, e, a) = (2, 4, 5, 2);
        for core in [CoreKind::Gru, CoreKind::BlockGru] {
            let config = RssmConfig {
                core,
                blocks: 2,
                ..tiny()
            };
            let rssm = Rssm::new(&config, NormKind::Layer, e, a, &device);
            let rows = b * steps;
            let embed = tensor_from_vec(
                (0..rows * e).map(|i| (i as f32 * 0.37).sin()).collect(),
                [rows, e],
                &device,
            );
            let actions = tensor_from_vec(
                (0..rows)
                    .flat_map(|i| [(i % 2) as f32, 1.0 - (i % 2) as f32])
                    .collect(),
                [rows, a],
                &device,
            );
            // Sequence 0 restarts at step 2.
            let mut first = vec![0.0; rows];
            first[2 * b] = 1.0;
            let start = RssmState {
                deter: tensor_from_vec(
                    (0..b * 8).map(|i| i as f32 * 0.1).collect(),
                    [b, 8],
                    &device,
                ),
                ..rssm.initial(b, &device)
            };
            let seed = 7;
            let (post, prior) = rssm.observe_sequence(
                &start,
                actions.clone(),
                embed.clone(),
                tensor_from_vec(first.clone(), [rows], &device),
                &mut Noise::new(seed),
            );
            // Step t's posterior sample uses the sequence's uniforms
            // t * B * S onwards: a step-by-step observe draws its posterior's
            // first, so a noise source advanced that far reproduces it.
            let mut state = start;
            for t in 0..steps {
                let mut noise = Noise::new(seed);
                noise.uniform_tensor::<1>([t * b * config.stoch], &device);
                let out = rssm.observe(
                    &state,
                    time_step(&actions, t, b),
                    time_step(&embed, t, b),
                    tensor_from_vec(first[t * b..(t + 1) * b].to_vec(), [b], &device),
                    &mut noise,
                );
                let close = |x: Tensor<2>, y: Tensor<2>, what: &str| {
                    let (x, y) = (to_vec(x), to_vec(y));
                    for (p, q) in x.iter().zip(&y) {
                        assert!(
                            (p - q).abs() < 1e-5,
                            "{core:?} step {t} {what}: {x:?} vs {y:?}"
                        );
                    }
                };
                close(
                    time_step(&post.deter, t, b),
                    out.posterior.deter.clone(),
                    "h",
                );
                close(
                    time_step(&post.stoch, t, b),
                    out.posterior.stoch.clone(),
                    "z",
                );
                let flat = |x: Tensor<3>| x.reshape([b, config.stoch * config.classes]);
                close(
                    flat(time_step(&post.log_probs, t, b)),
                    flat(out.posterior.log_probs.clone()),
                    "posterior",
                );
                close(
                    flat(time_step(&prior, t, b)),
                    flat(out.prior.log_probs.clone()),
                    "prior",
                );
                state = out.posterior;
            }
        }
    }

    #[test]
    fn is_first_resets_the_carried_state() {
        let device = Device::flex();
        let rssm = Rssm::new(&tiny(), NormKind::Layer, 5, 2, &device);
        let embed = tensor_from_vec(vec![0.3, -0.2, 0.9, 0.1, 0.0], [1, 5], &device);
        let action = tensor_from_vec(vec![0.0, 1.0], [1, 2], &device);
        let carried = RssmState {
            deter: Tensor::ones([1, 8], &device),
            stoch: tensor_from_vec(vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0], [1, 6], &device),
            log_probs: Tensor::zeros([1, 2, 3], &device),
        };
        let fresh = rssm.initial(1, &device);
        let first = Tensor::ones([1], &device);
        let a = rssm.observe(
            &carried,
            action.clone(),
            embed.clone(),
            first.clone(),
            &mut Noise::new(1),
        );
        let b = rssm.observe(
            &fresh,
            Tensor::zeros([1, 2], &device),
            embed.clone(),
            first,
            &mut Noise::new(1),
        );
        assert_eq!(
            to_vec(a.posterior.deter),
            to_vec(b.posterior.deter.clone()),
            "a first step ignores what came before"
        );
        let c = rssm.observe(
            &carried,
            action,
            embed,
            Tensor::zeros([1], &device),
            &mut Noise::new(1),
        );
        assert_ne!(to_vec(c.posterior.deter), to_vec(b.posterior.deter));
    }

    #[test]
    fn actions_beyond_the_bounds_enter_as_the_clipped_action() {
        // The reference's action_clip: values clipped to [-1, 1], the
        // gradient scaled by the same gradient-free factor (1/2, 1, 1/3).
        let device = Device::flex().autodiff();
        let rssm = Rssm::new(&tiny(), NormKind::Layer, 5, 3, &device);
        let action = tensor_from_vec(vec![2.0, -0.5, -3.0], [1, 3], &device).require_grad();
        let clipped = rssm.clip_action(action.clone());
        assert_eq!(to_vec(clipped.clone()), vec![1.0, -0.5, -1.0]);
        let grads = clipped.sum().backward();
        let grad = to_vec(action.grad(&grads).expect("a gradient"));
        for (g, e) in grad.iter().zip([0.5, 1.0, 1.0 / 3.0]) {
            assert!((g - e).abs() < 1e-6, "{grad:?}");
        }
        // So acting or imagining with a sample beyond the bounds moves the
        // model as the clipped action the replay holds would.
        let state = rssm.initial(1, &device);
        let beyond = tensor_from_vec(vec![2.0, -0.5, -3.0], [1, 3], &device);
        let held = tensor_from_vec(vec![1.0, -0.5, -1.0], [1, 3], &device);
        let a = rssm.imagine(&state, beyond, &mut Noise::new(2));
        let b = rssm.imagine(&state, held, &mut Noise::new(2));
        assert_eq!(to_vec(a.deter), to_vec(b.deter));
        assert_eq!(to_vec(a.stoch), to_vec(b.stoch));
    }
}
