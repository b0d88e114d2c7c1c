//! STORM's dynamics and heads against the reference code's own outputs
//! (`tests/data/storm.json`, written by `scripts/record_storm.py` from
//! weipu-zhang/STORM on random weights): posterior and prior after the
//! unimix, the action mixer and transformer over whole sequences and
//! through the reference's key-value cache, the reward and termination
//! heads, and the losses `WorldModel.update` builds from them; the
//! BatchNorm image encoder and decoder while training and at inference.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde_json::Value;

use super::StormModelConfig;
use super::cnn::{BatchNormDecoder, BatchNormEncoder};
use super::loss::free_bits_kl;
use super::model::{StormDynamics, StormHead};
use crate::nn::dist::kl::categorical_kl;
use crate::nn::dist::{Bernoulli, BinSpace, BinnedScalar};
use crate::nn::recorded::{RecordedParams, flat};
use crate::nn::tensor_util::{tensor_from_vec, to_vec};

fn recording() -> Value {
    serde_json::from_str(include_str!("../../tests/data/storm.json"))
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

/// The running variance BatchNorm keeps: torch averages the batch's
/// unbiased variance (divided by `n - 1`), burn the biased one (by `n`),
/// for `n` values per channel (frames x pixels). Ours after one step from
/// 1 with momentum 0.1, given the reference's.
fn biased_running_var(reference: f32, n: usize) -> f32 {
    let unbiased = (reference - 0.9) / 0.1;
    0.9 + 0.1 * unbiased * (n as f32 - 1.0) / n as f32
}

#[test]
fn batch_norm_cnn_matches_the_storm_reference() {
    use crate::nn::tensor_util::to_vec;
    let recording = recording();
    let r = &recording["cnn"];
    let (frames, side, depth) = (
        size_of(r, "frames"),
        size_of(r, "side"),
        size_of(r, "depth"),
    );
    let shape = [side, side, 3];
    let latent = flat(&r["latents"]).len() / frames;
    let train = Device::flex().autodiff();
    let params = |which: &str, key: &str| RecordedParams::new(&r[which][key]);
    let images = |key: &str, device: &Device| {
        tensor_from_vec(flat(&r[key]), [frames, side, side, 3], device)
    };
    let latents = |device: &Device| tensor_from_vec(flat(&r["latents"]), [frames, latent], device);

    // Training: each norm by its batch's statistics.
    let mut p = params("params", "encoder");
    let encoder = BatchNormEncoder::new(shape, depth, 2, &train).map(&mut p);
    assert!(p.is_used_up(), "encoder parameters left over");
    let features = encoder.forward(images("images", &train)).inner();
    close(
        to_vec(features),
        flat(&r["features_train"]),
        "encoder, training",
    );
    let mut p = params("params", "decoder");
    let decoder = BatchNormDecoder::new(latent, shape, depth, 2, &train).map(&mut p);
    assert!(p.is_used_up(), "decoder parameters left over");
    let decoded = decoder.forward(latents(&train)).inner();
    close(
        to_vec(decoded),
        flat(&r["frames_train"]),
        "decoder, training",
    );

    // The running averages that pass left: the means as the reference's;
    // the variances as its, but for the biased variance (values per
    // channel: the frames times each stage's pixels).
    let stage = |s: usize| frames * s * s;
    let check_running = |ours: Vec<(Vec<f32>, Vec<f32>)>, key: &str, at: &[usize], n: &[usize]| {
        let list = &r["params_trained"][key];
        for (i, ((mean, var), (&at, &n))) in ours.into_iter().zip(at.iter().zip(n)).enumerate() {
            close(
                mean,
                flat(&list[at]["values"]),
                &format!("{key} norm {i}: running mean"),
            );
            let theirs = flat(&list[at + 1]["values"]);
            let expected = theirs.iter().map(|&v| biased_running_var(v, n)).collect();
            close(var, expected, &format!("{key} norm {i}: running variance"));
        }
    };
    // Recorded order: encoder [conv, conv, (scale, shift, mean, var) x 2];
    // decoder [linear, (scale, shift, mean, var), conv, conv, bias, (..)].
    check_running(
        encoder.running_stats(),
        "encoder",
        &[4, 8],
        &[stage(side / 2), stage(side / 4)],
    );
    check_running(
        decoder.running_stats(),
        "decoder",
        &[3, 10],
        &[stage(side / 4), stage(side / 2)],
    );

    // Inference: the running averages (the reference's, loaded).
    let flex = Device::flex();
    let mut p = params("params_trained", "encoder");
    let encoder = BatchNormEncoder::new(shape, depth, 2, &flex).map(&mut p);
    assert!(p.is_used_up(), "encoder parameters left over");
    let features = encoder.forward(images("later_images", &flex));
    close(
        to_vec(features),
        flat(&r["features_eval"]),
        "encoder, inference",
    );
    let mut p = params("params_trained", "decoder");
    let decoder = BatchNormDecoder::new(latent, shape, depth, 2, &flex).map(&mut p);
    assert!(p.is_used_up(), "decoder parameters left over");
    close(
        to_vec(decoder.forward(latents(&flex))),
        flat(&r["frames_eval"]),
        "decoder, inference",
    );
}

fn size_of(r: &Value, key: &str) -> usize {
    r[key].as_u64().expect("a size") as usize
}
