//! Acting through a world model: filter each observation into the latent
//! state with `Dynamics::observe`, then let a planner choose from it. The
//! same for every model family (DreamerV3's RSSM, STORM's transformer):
//! only the model and its state type differ.

use burn::tensor::{Device, Tensor};
use somnium_envs::{Action, Observation};

use super::ActionCodec;
use crate::core::{Dynamics, Encoder, LatentState, Noise, ObsBatch, ObsKind, WorldModel};
use crate::dreamer::networks::{Actor, Critic};
use crate::nn::tensor_util::{tensor_from_vec, to_vec};
use crate::planners::AnyPlanner;

/// What acting keeps between steps for a batch of environments.
pub struct LatentActing<S> {
    /// The latent state after the latest observation.
    pub state: S,
    /// The action taken from it `[B, A]`.
    pub prev_action: Tensor<2>,
    /// What the planner's next step starts from (a warm-started sampling
    /// planner's fitted means).
    pub plan: Option<Tensor<3>>,
}

/// What acting reads, as inference copies (on the plain device, so no
/// graph is recorded).
pub struct ActingNets<'a, M> {
    /// The world model.
    pub model: &'a M,
    /// Its observation encoder.
    pub encoder: &'a dyn Encoder,
    /// The policy (the planners' prior).
    pub actor: &'a Actor,
    /// The value (the planners' bootstrap).
    pub critic: &'a Critic,
    /// Environment actions to and from model vectors.
    pub codec: &'a ActionCodec,
    /// How observations are batched.
    pub obs_kind: ObsKind,
    /// The inference device.
    pub device: &'a Device,
}

impl<M: WorldModel> ActingNets<'_, M> {
    /// Filter `observations` into the latent states of `acting` (reset
    /// where `is_first`) and let `planner` choose actions from them.
    pub fn act(
        &self,
        planner: &mut AnyPlanner,
        acting: &mut Option<LatentActing<<M::Dynamics as Dynamics>::State>>,
        noise: &mut Noise,
        observations: &[Observation],
        is_first: &[bool],
    ) -> Vec<Action> {
        let n = observations.len();
        let device = self.device;
        let dynamics = self.model.dynamics();
        let acting = acting.get_or_insert_with(|| LatentActing {
            state: dynamics.initial(n, device),
            prev_action: Tensor::zeros([n, self.codec.width()], device),
            plan: None,
        });
        let first: Vec<f32> = is_first
            .iter()
            .map(|&f| if f { 1.0 } else { 0.0 })
            .collect();
        let obs = ObsBatch::from_observations(observations, self.obs_kind, device);
        let embed = self.encoder.encode(&obs);
        let observed = dynamics.observe(
            &acting.state,
            acting.prev_action.clone(),
            embed,
            tensor_from_vec(first, [n], device),
            noise,
        );
        let state = observed.posterior.detach();
        let action = planner
            .plan_acting(
                self.model,
                self.critic,
                self.actor,
                &state,
                &mut acting.plan,
                is_first,
                noise,
            )
            .actions
            .detach();
        acting.state = state;
        acting.prev_action = action.clone();
        self.codec.decode(&to_vec(action), n)
    }
}
