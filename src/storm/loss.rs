//! STORM's world-model loss on replayed sequences, and where imagination
//! starts.
//!
//! `L = L_rec + L_reward + L_term + 0.5 max(1, KL_dyn) + 0.1 max(1, KL_rep)`
//! (paper eq. 4-6, reference `WorldModel.update`): the free nat applies to
//! the KL's mean over batch and time, not to each step as in DreamerV3.
//! The transformer reads the tokens `(z_t, a_t)` of the posterior samples
//! and the actions taken after them, and its output at step `t` is scored
//! on step `t + 1`: the prior against the posterior there, the reward
//! received and whether the episode ended.
//!
//! Deviation: the reference cuts windows anywhere in the replay and lets
//! attention run across episode boundaries. Here a token attends only to
//! its own episode (positions counting from its start), and the
//! transition from an episode's last step into the next episode's first
//! scores nothing, as there is none.

use burn::tensor::Tensor;

use super::model::StormWorldModel;
use super::state::StormState;
use crate::core::{Dynamics, LatentState, Noise, ObservationModel};
use crate::dreamer::world_model::{DeviceBatch, WorldModelLosses};
use crate::nn::dist::kl::categorical_kl;
use crate::nn::tensor_util::{int_tensor_from_vec, tensor_from_vec, to_vec};

/// What one pass over a batch of sequences yields.
#[derive(Debug, Clone)]
pub struct StormObserved {
    /// The loss terms, each a mean `[1]` (DreamerV3's names: `decoder`,
    /// `reward`, `continuation`, `dynamics`, `representation`).
    pub losses: WorldModelLosses,
    /// The unclipped KL between posterior and prior, mean, detached.
    pub kl: Tensor<1>,
}

/// The mean of `x [N]` over rows where `weights [N]` is 1 (`count` of
/// them) `[1]`.
fn masked_mean(x: Tensor<1>, weights: Tensor<1>, count: f32) -> Tensor<1> {
    (x * weights).sum() / count.max(1.0)
}

/// STORM's free bits: `max(free, mean KL)`, the mean over the scored rows
/// (`scored [N]` is 1 on `count` of them) of the per-step KL `[N]`; `[1]`.
/// Below the free nats no gradient flows at all, however large some
/// step's KL.
pub fn free_bits_kl(kl: Tensor<1>, scored: Tensor<1>, count: f32, free_nats: f32) -> Tensor<1> {
    masked_mean(kl, scored, count).clamp_min(free_nats)
}

/// The time-major indices `step * b + row` of steps `from..to` of every
/// row, batch-major (row by row).
fn batch_major_rows(b: usize, from: usize, to: usize) -> Vec<usize> {
    (0..b)
        .flat_map(|row| (from..to).map(move |step| step * b + row))
        .collect()
}

/// Reorder time-major rows `[T * B, ..]` of steps `from..to` batch-major
/// `[B * (to - from), ..]`.
fn batch_major<const D: usize>(x: Tensor<D>, b: usize, from: usize, to: usize) -> Tensor<D> {
    let rows: Vec<i64> = batch_major_rows(b, from, to)
        .into_iter()
        .map(|i| i as i64)
        .collect();
    let n = rows.len();
    let device = x.device();
    x.select(0, int_tensor_from_vec(rows, [n], &device))
}

impl StormWorldModel {
    /// Observe a batch of sequences and compute the losses.
    pub fn observe_sequences(
        &self,
        data: &DeviceBatch,
        free_nats: f32,
        noise: &mut Noise,
    ) -> StormObserved {
        let (b, t) = (data.batch, data.length);
        let dynamics = &self.dynamics;
        let embed = self.encode_obs(data);
        let posterior = dynamics.posterior(embed); // [T * B, S, K]
        let z = dynamics.sample(&posterior, noise); // [T * B, S * K]
        let decoder = self.decoder.decode(z.clone()).loss(&data.obs).mean();

        // Tokens of steps 0 .. T-1 with the actions taken after them.
        let tokens = dynamics.tokens(
            batch_major(z, b, 0, t - 1),
            batch_major(data.actions.clone(), b, 1, t),
        );
        let w = tokens.dims()[1];
        let is_first = to_vec(data.is_first.clone());
        let at = |from, to| -> Vec<f32> {
            batch_major_rows(b, from, to)
                .into_iter()
                .map(|i| is_first[i])
                .collect()
        };
        let cuts = at(0, t - 1);
        let (hidden, _) = dynamics
            .transformer()
            .forward_segments(tokens.reshape([b, t - 1, w]), Some(&cuts));
        let hidden = hidden.reshape([b * (t - 1), w]);

        // Targets at steps 1 .. T; a step that starts an episode has none.
        let next_first = at(1, t);
        let count = next_first.iter().filter(|&&f| f < 0.5).count() as f32;
        let device = hidden.device();
        let scored = tensor_from_vec(
            next_first.iter().map(|f| 1.0 - f).collect(),
            [b * (t - 1)],
            &device,
        );
        let target_post = batch_major(posterior.log_probs, b, 1, t);
        let prior = dynamics.prior(hidden.clone()).log_probs;
        let dyn_kl = categorical_kl(target_post.clone().detach(), prior.clone());
        let rep_kl = categorical_kl(target_post, prior.detach());
        let kl = masked_mean(dyn_kl.clone(), scored.clone(), count);
        let rewards = batch_major(data.rewards.clone(), b, 1, t);
        let continues = batch_major(data.is_terminal.clone(), b, 1, t).neg() + 1.0;
        let reward = self.reward_of_hidden(hidden.clone()).loss(rewards);
        let termination = self
            .continuation_of_hidden(hidden)
            .log_prob(continues)
            .neg();
        let losses = WorldModelLosses {
            decoder,
            reward: masked_mean(reward, scored.clone(), count),
            continuation: masked_mean(termination, scored.clone(), count),
            dynamics: free_bits_kl(dyn_kl, scored.clone(), count, free_nats),
            representation: free_bits_kl(rep_kl, scored, count, free_nats),
        };
        StormObserved {
            losses,
            kl: kl.detach(),
        }
    }

    /// Embeddings of a batch's observations, time-major `[T * B, E]`.
    fn encode_obs(&self, data: &DeviceBatch) -> Tensor<2> {
        crate::core::Encoder::encode(self, &data.obs)
    }

    /// Where imagination starts: one start per replayed step, the
    /// detached posterior state after observing the `context` steps that
    /// end there (fewer at a sequence's or an episode's start) from a fresh
    /// history, time-major `[T * B]` like the replayed steps; and `1 -
    /// is_terminal` there `[T * B]`. STORM samples its context windows
    /// uniformly from the replay; every window that ends at a replayed step
    /// is the same distribution. (STORM starts from the prior of the step
    /// after its window; starting from the posterior of the window's last
    /// step, as DreamerV3 does, uses the observation that is there.)
    pub fn imagination_starts(
        &self,
        data: &DeviceBatch,
        context: usize,
        noise: &mut Noise,
    ) -> (StormState, Tensor<1>) {
        let (b, t) = (data.batch, data.length);
        let context = context.max(1) as i64;
        let n = b * t;
        let device = data.actions.device();
        let embed = self.encode_obs(data).detach();
        let is_first_host = to_vec(data.is_first.clone());
        // Window step `j` of the window ending at step `end` reads step
        // `end + 1 - context + j`; steps before the sequence read step 0
        // as a first step again, which the real step 0 then replaces.
        let step_of = |end: usize, j: i64| end as i64 + 1 - context + j;
        let rows_at = |j: i64| -> (Tensor<1, burn::tensor::Int>, Tensor<1>) {
            let (mut rows, mut first) = (Vec::with_capacity(n), Vec::with_capacity(n));
            for end in 0..t {
                for row in 0..b {
                    let step = step_of(end, j);
                    let index = step.max(0) as usize * b + row;
                    rows.push(index as i64);
                    first.push(if j == 0 || step <= 0 {
                        1.0
                    } else {
                        is_first_host[index]
                    });
                }
            }
            (
                int_tensor_from_vec(rows, [n], &device),
                tensor_from_vec(first, [n], &device),
            )
        };
        let mut state = self.dynamics.initial(n, &device);
        for j in 0..context {
            let (rows, is_first) = rows_at(j);
            state = self
                .dynamics
                .observe(
                    &state,
                    data.actions.clone().select(0, rows.clone()),
                    embed.clone().select(0, rows),
                    is_first,
                    noise,
                )
                .posterior
                .detach();
        }
        let continues = data.is_terminal.clone().neg() + 1.0;
        debug_assert_eq!(state.batch(), n);
        (state, continues)
    }
}
