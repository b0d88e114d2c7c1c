//! STORM's dynamics and heads against the reference code's own outputs
//! (`tests/data/storm.json`, written by `scripts/record_storm.py` from
//! weipu-zhang/STORM on random weights): posterior and prior after the
//! unimix, the action mixer and transformer over whole sequences and
//! through the reference's key-value cache, the reward and termination
//! heads, and the losses `WorldModel.update` builds from them.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde_json::Value;

use super::{StormDynamics, StormHead};
use crate::nn::dist::kl::categorical_kl;
use crate::nn::dist::{Bernoulli, BinSpace, BinnedScalar};
use crate::nn::recorded::{RecordedParams, flat};
use crate::nn::tensor_util::{tensor_from_vec, to_vec};
use crate::storm::StormModelConfig;
use crate::storm::loss::free_bits_kl;

fn recording() -> Value {
    serde_json::from_str(include_str!("../../../tests/data/storm.json"))
        .expect("the recording is JSON")
}

fn close(got: Vec<f32>, want: Vec<f32>, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let tolerance = 1e-4 * (1.0 + w.abs());
        assert!(
            (g - w).abs() < tolerance,
            "{what}[{i}]: ours {g}, the reference's {w}"
        );
    }
}

fn size(r: &Value, key: &str) -> usize {
    r["sizes"][key].as_u64().expect("a size") as usize
}

/// The recorded model: dynamics, reward head, termination head.
fn recorded_model(r: &Value, device: &Device) -> (StormDynamics, StormHead, StormHead) {
    let config = StormModelConfig {
        stoch: size(r, "stoch"),
        classes: size(r, "classes"),
        width: size(r, "width"),
        heads: size(r, "heads"),
        layers: size(r, "layers"),
        feed_forward: size(r, "feed_forward"),
        max_length: size(r, "max_length"),
        dropout: 0.0,
        head_layers: 2,
        head_units: size(r, "width"),
        ..StormModelConfig::default()
    };
    let load = |key: &str| RecordedParams::new(&r["params"][key]);
    let mut params = load("dynamics");
    let dynamics =
        StormDynamics::new(&config, size(r, "embed"), size(r, "actions"), device).map(&mut params);
    assert!(params.is_used_up(), "dynamics parameters left over");
    let mut params = load("reward_head");
    let reward =
        StormHead::new(config.width, BinSpace::dreamer().bins, &config, device).map(&mut params);
    assert!(params.is_used_up(), "reward head parameters left over");
    let mut params = load("termination_head");
    let termination = StormHead::new(config.width, 1, &config, device).map(&mut params);
    assert!(params.is_used_up(), "termination head parameters left over");
    (dynamics, reward, termination)
}

#[test]
fn dynamics_heads_and_losses_match_the_storm_reference() {
    let r = recording();
    let device = Device::flex();
    let (dynamics, reward_head, termination_head) = recorded_model(&r, &device);
    let (b, t) = (size(&r, "batch"), size(&r, "length"));
    let (n, latent, actions) = (b * t, dynamics.latent_width(), size(&r, "actions"));

    let embeddings = tensor_from_vec(flat(&r["embeddings"]), [n, size(&r, "embed")], &device);
    let posterior = dynamics.posterior(embeddings).log_probs;
    let posterior_values = flat(&r["posterior_log_probs"]);
    close(to_vec(posterior.clone()), posterior_values, "posterior");

    let samples = tensor_from_vec(flat(&r["samples"]), [b, t, latent], &device);
    let one_hot: Vec<f32> = flat(&r["actions"])
        .iter()
        .flat_map(|&a| (0..actions).map(move |i| if i == a as usize { 1.0 } else { 0.0 }))
        .collect();
    let actions = tensor_from_vec(one_hot, [b, t, actions], &device);
    let hidden = dynamics
        .transformer()
        .forward(dynamics.tokens(samples, actions));
    close(to_vec(hidden.clone()), flat(&r["hidden"]), "transformer");
    close(
        to_vec(hidden.clone()),
        flat(&r["hidden_cached"]),
        "the reference's cached transformer",
    );

    let width = hidden.dims()[2];
    let hidden = hidden.reshape([n, width]);
    let prior = dynamics.prior(hidden.clone()).log_probs;
    close(to_vec(prior.clone()), flat(&r["prior_log_probs"]), "prior");
    let reward_logits = reward_head.forward(hidden.clone());
    close(
        to_vec(reward_logits.clone()),
        flat(&r["reward_logits"]),
        "reward head",
    );
    let termination_logits = termination_head.forward(hidden).reshape([n]);
    close(
        to_vec(termination_logits.clone()),
        flat(&r["termination_logits"]),
        "termination head",
    );

    // The losses, as `WorldModel.update` assembles them: reward and
    // termination on every step, the KL between the posterior at step
    // t + 1 and the prior from step t with its free nat on the mean.
    let rewards = tensor_from_vec(flat(&r["rewards"]), [n], &device);
    let reward_loss = BinnedScalar::new(reward_logits, BinSpace::dreamer())
        .loss(rewards)
        .mean();
    let scalar = |x: Tensor<1>| to_vec(x)[0];
    let want = |key: &str| r[key].as_f64().expect("a number") as f32;
    close(
        vec![scalar(reward_loss)],
        vec![want("reward_loss")],
        "reward loss",
    );
    let continues = tensor_from_vec(flat(&r["terminations"]), [n], &device).neg() + 1.0;
    let termination_loss = Bernoulli::new(termination_logits.neg())
        .log_prob(continues)
        .neg()
        .mean();
    close(
        vec![scalar(termination_loss)],
        vec![want("termination_loss")],
        "termination loss",
    );
    let [_, stoch, classes] = prior.dims();
    let steps = |x: Tensor<3>, from: usize| {
        x.reshape([b, t, stoch, classes])
            .slice([0..b, from..from + t - 1])
            .reshape([b * (t - 1), stoch, classes])
    };
    let kl = categorical_kl(steps(posterior, 1), steps(prior, 0));
    let rows = b * (t - 1);
    let scored = Tensor::ones([rows], &device);
    close(vec![scalar(kl.clone().mean())], vec![want("real_kl")], "KL");
    close(
        vec![scalar(free_bits_kl(kl, scored, rows as f32, 1.0))],
        vec![want("dynamics_loss")],
        "KL with its free nat",
    );
}
