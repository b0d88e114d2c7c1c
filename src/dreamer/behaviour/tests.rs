//! Behaviour learning on the line model (`crate::core::line_model`), whose
//! rewards and continuation are exact: returns derived by hand, and which
//! module each loss reaches.

use burn::optim::GradientsParams;
use burn::tensor::Device;

use super::*;
use crate::core::line_model::Line;
use crate::core::{PolicyDistribution, VectorState};
use crate::dreamer::config::DreamerConfig;
use crate::dreamer::returns::ReturnNormalizer;
use crate::nn::grad::global_norm;
use crate::nn::tensor_util::tensor_from_vec;

const HORIZON: usize = 3;

fn config() -> DreamerConfig {
    let mut config = DreamerConfig::default();
    config.heads.layers = 1;
    config.heads.units = 16;
    config.behaviour.horizon = HORIZON;
    config
}

fn starts(device: &Device) -> VectorState {
    let x = vec![-1.5, -0.5, 0.25, 1.0];
    VectorState::new(tensor_from_vec(x.clone(), [x.len(), 1], device))
}

fn normalizer(config: &DreamerConfig) -> ReturnNormalizer {
    let b = &config.behaviour;
    ReturnNormalizer::new(
        b.return_norm_rate,
        b.return_norm_limit,
        b.return_norm_low,
        b.return_norm_high,
    )
}

/// A fresh critic values every state at 0 (its output layer starts at
/// zero); one Adam step towards different targets at different states
/// makes its value depend on the state.
fn state_dependent_critic(config: &DreamerConfig, device: &Device) -> Critic {
    let critic = Critic::new(1, &config.heads, config.norm, device);
    let x = tensor_from_vec(vec![-2.0, -1.0, 0.0, 1.0, 2.0], [5, 1], device);
    let targets = tensor_from_vec(vec![-8.0, -4.0, 0.0, 4.0, 8.0], [5], device);
    let loss = critic.value(x).loss(targets).mean();
    let grads = GradientsParams::from_grads(loss.backward(), &critic);
    let mut optim = config.optimizer.build(1e-8, device);
    optim.step(0.05, critic, grads)
}

/// Imagine from the four starts on `model` and compute the behaviour
/// losses (a critic of its own as the slow critic), by backpropagation or
/// REINFORCE.
fn losses_on(
    model: &Line,
    actor: &Actor,
    critic: &Critic,
    config: &DreamerConfig,
    backprop: bool,
) -> BehaviourLosses {
    let device = Device::flex().autodiff();
    let mut noise = Noise::new(5);
    let imagined = imagine(model, actor, starts(&device), HORIZON, backprop, &mut noise);
    behaviour_losses(
        model,
        critic,
        critic,
        &imagined,
        Tensor::ones([4], &device),
        &mut ReturnScaling::Own(&mut normalizer(config)),
        &config.behaviour,
        &config.loss_scales,
        backprop,
    )
}

/// The global gradient norms of the actor's and the critic's parameters
/// from the actor loss alone.
fn actor_loss_gradients(losses: BehaviourLosses, actor: &Actor, critic: &Critic) -> (f32, f32) {
    let mut grads = losses.actor.backward();
    let actor_grads = GradientsParams::from_module(&mut grads, actor);
    let critic_grads = GradientsParams::from_module(&mut grads, critic);
    (
        global_norm(actor, &actor_grads),
        global_norm(critic, &critic_grads),
    )
}

/// Lambda-returns of the first start on the line, with a constant reward
/// and continuation, from a critic that values every state at 0.
fn first_return(continues: f32, estimate: ContinuationEstimate) -> f32 {
    let device = Device::flex().autodiff();
    let mut config = config();
    config.behaviour.continuation = estimate;
    let actor = Actor::new(1, 3, true, &config, &device);
    let critic = Critic::new(1, &config.heads, config.norm, &device);
    let model = Line {
        continues: Some(continues),
        distance_cost: 0.0,
        bonus: 1.0,
        ..Line::new(vec![-1.0, 0.0, 1.0])
    };
    let losses = losses_on(&model, &actor, &critic, &config, false);
    to_vec(losses.start_returns)[0]
}

#[test]
fn returns_read_the_continue_heads_mode_or_probability() {
    // R_t = r + gamma c (lambda R_{t+1} + (1 - lambda) v), with r = 1,
    // v = 0 and R_H = v_H = 0, over H = 3 steps:
    // R_0 = 1 + g c lambda + (g c lambda)^2.
    let d = config().behaviour;
    let by_hand = |c: f32| {
        let k = d.discount * d.lambda * c;
        1.0 + k + k * k
    };
    for (p, mode) in [(0.7, 1.0), (0.3, 0.0)] {
        let got = first_return(p, ContinuationEstimate::Mode);
        assert!(
            (got - by_hand(mode)).abs() < 1e-4,
            "mode of p = {p}: {got} vs {}",
            by_hand(mode)
        );
        let got = first_return(p, ContinuationEstimate::Probability);
        assert!(
            (got - by_hand(p)).abs() < 1e-4,
            "probability {p}: {got} vs {}",
            by_hand(p)
        );
    }
}

#[test]
fn backprop_returns_reach_the_actor_through_the_critics_values() {
    // Continuous actions learning by backpropagation on a line that pays
    // nothing: only the critic's values of the imagined states say where
    // to go.
    let device = Device::flex().autodiff();
    let mut config = config();
    config.behaviour.entropy = 0.0;
    let actor = Actor::new(1, 1, false, &config, &device);
    let critic = state_dependent_critic(&config, &device);
    let model = Line {
        distance_cost: 0.0,
        ..Line::new(vec![1.0])
    };
    let losses = losses_on(&model, &actor, &critic, &config, true);
    // The critic's own loss still trains it (the actor's values come from
    // a gradient-free copy, which must leave the critic itself alone).
    let mut own = losses.critic.clone().backward();
    let critic_own = GradientsParams::from_module(&mut own, &critic);
    assert!(global_norm(&critic, &critic_own) > 1e-6);
    let (actor, critic) = actor_loss_gradients(losses, &actor, &critic);
    assert!(
        actor > 1e-6,
        "with no reward, the actor learns from the values of the states its actions reach: {actor}"
    );
    assert_eq!(critic, 0.0, "the actor loss must not train the critic");
}

#[test]
fn reinforce_passes_no_gradient_through_the_dynamics() {
    // Discrete actions: the trajectory is detached, so a line that pays
    // nothing and a critic whose values differ only make the advantages
    // nonzero; the gradient reaches the actor through log-probabilities,
    // never the critic.
    let device = Device::flex().autodiff();
    let mut config = config();
    config.behaviour.entropy = 0.0;
    let actor = Actor::new(1, 3, true, &config, &device);
    let critic = state_dependent_critic(&config, &device);
    let model = Line {
        distance_cost: 0.0,
        ..Line::new(vec![-1.0, 0.0, 1.0])
    };
    let losses = losses_on(&model, &actor, &critic, &config, false);
    let (actor, critic) = actor_loss_gradients(losses, &actor, &critic);
    assert!(actor > 1e-6, "{actor}");
    assert_eq!(critic, 0.0);
}

#[test]
fn backprop_actor_steers_exact_dynamics_towards_the_reward() {
    // On the line, x' = x + a pays -|x'|: from x = 0.6 the best action is
    // -0.6, from x = -0.6 it is 0.6. Exact dynamics and rewards leave only
    // the behaviour learning to test; with a horizon of one step and a
    // critic held at its initial zero output (its own gradient reaching
    // the actor is another test's), the return is r_1 = -|x + a|, whose
    // gradient reaches the action through the dynamics. (Over
    // longer horizons the actor, whose later inputs are detached as in the
    // reference, also offsets the drift of its own later actions, and the
    // first action's optimum is no longer -x.) Half the starts at each x,
    // so no initial policy satisfies both: the mean actions must head
    // there from wherever they start.
    let device = Device::flex().autodiff();
    let mut config = config();
    config.behaviour.horizon = 1;
    config.optimizer.actor_lr = 1e-3;
    config.optimizer.critic_lr = 1e-12;
    let mut learner = crate::dreamer::ActorCritic::new(1, 1, false, &config, &device);
    let model = Line::new(vec![1.0]);
    let x: Vec<f32> = (0..16).map(|i| if i < 8 { 0.6 } else { -0.6 }).collect();
    let start = || VectorState::new(tensor_from_vec(x.clone(), [16, 1], &device));
    let mean_actions =
        |learner: &crate::dreamer::ActorCritic| match learner.actor.policy(start().hidden) {
            PolicyDistribution::Continuous(d) => {
                let mean = to_vec(d.mean);
                (mean[0], mean[15])
            }
            PolicyDistribution::Discrete(_) => unreachable!("continuous"),
        };
    let before = mean_actions(&learner);
    let mut noise = Noise::new(9);
    for _ in 0..600 {
        learner.update(&model, start(), Tensor::ones([16], &device), &mut noise);
    }
    let (at_right, at_left) = mean_actions(&learner);
    assert!(
        (at_right + 0.6).abs() < 0.15 && (at_left - 0.6).abs() < 0.15,
        "mean actions at x = 0.6 and -0.6: {before:?} -> ({at_right}, {at_left}); best (-0.6, 0.6)"
    );
}
