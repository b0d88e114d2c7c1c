//! DreamerV3's arithmetic against the reference code's own outputs.
//!
//! `scripts/record_dreamerv3.py` ran the `dreamerv3` package (PyPI 1.5.0,
//! the 2023 design) on seeded inputs and recorded its outputs in
//! `tests/data/dreamerv3_2023.json`; these tests feed the same inputs to
//! our functions: lambda-returns with the continue head's mode and with
//! its probability, the return normaliser over several updates, twohot
//! log-likelihoods and means, the balanced KL with free bits, and the
//! actor's loss with both gradient estimators.

use burn::tensor::{Device, Tensor};
use serde_json::Value;
use somnium::dreamer::LossScales;
use somnium::dreamer::behaviour::{actor_loss, critic_loss, trajectory_weights};
use somnium::dreamer::returns::{ReturnNormalizer, lambda_returns};
use somnium::nn::dist::OneHotCategorical;
use somnium::nn::dist::kl::balanced_kl;
use somnium::nn::dist::{BinSpace, BinnedScalar};
use somnium::nn::tensor_util::{tensor_from_vec, to_vec};

fn recording() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/dreamerv3_2023.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A nested JSON array of numbers, flattened in order.
fn flat(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        other => panic!("not a number: {other}"),
    }
}

fn rows(v: &Value) -> usize {
    v.as_array().unwrap().len()
}

fn assert_close(got: &[f32], want: &[f32], tolerance: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let scale = w.abs().max(1.0);
        assert!(
            (g - w).abs() <= tolerance * scale,
            "{what}[{i}]: ours {g}, the reference's {w}"
        );
    }
}

/// Time-major `[T, N]` (the reference's layout) to our `[N, T]`.
fn by_row(v: &Value, device: &Device) -> Tensor<2> {
    let (t, n) = (rows(v), rows(&v[0]));
    tensor_from_vec(flat(v), [t, n], device).swap_dims(0, 1)
}

#[test]
fn lambda_returns_match_the_reference() {
    let device = Device::flex();
    let r = &recording()["lambda_returns"];
    let discount = r["discount"].as_f64().unwrap() as f32;
    let lambda = r["lambda"].as_f64().unwrap() as f32;
    for estimate in ["mode", "probability"] {
        let ours = lambda_returns(
            by_row(&r["rewards"], &device),
            by_row(&r[estimate]["continues"], &device),
            by_row(&r["values"], &device),
            discount,
            lambda,
        ); // [N, H]
        let want = by_row(&r[estimate]["returns"], &device);
        assert_close(&to_vec(ours), &to_vec(want), 1e-5, estimate);
    }
}

#[test]
fn the_return_normaliser_matches_the_reference_over_several_updates() {
    let r = &recording()["return_normalizer"];
    // The 2023 config: decay 0.99, percentiles 5 and 95, scale at least 1.
    let mut ours = ReturnNormalizer::new(0.01, 1.0, 5.0, 95.0);
    for (i, (batch, after)) in r["batches"]
        .as_array()
        .unwrap()
        .iter()
        .zip(r["after"].as_array().unwrap())
        .enumerate()
    {
        let scale = ours.update(&flat(batch));
        let want = [
            after["offset"].as_f64().unwrap() as f32,
            after["scale"].as_f64().unwrap() as f32,
        ];
        assert_close(
            &[ours.low, scale],
            &want,
            1e-5,
            &format!("update {i}: offset, scale"),
        );
    }
}

#[test]
fn twohot_log_likelihoods_and_means_match_the_reference() {
    let device = Device::flex();
    let r = &recording()["twohot"];
    let (n, bins) = (rows(&r["logits"]), rows(&r["logits"][0]));
    assert_eq!(BinSpace::dreamer().bins, bins);
    let dist = BinnedScalar::new(
        tensor_from_vec(flat(&r["logits"]), [n, bins], &device),
        BinSpace::dreamer(),
    );
    let targets = tensor_from_vec(flat(&r["targets"]), [n], &device);
    let log_prob: Vec<f32> = to_vec(dist.loss(targets)).iter().map(|l| -l).collect();
    assert_close(&log_prob, &flat(&r["log_prob"]), 1e-5, "log_prob");
    assert_close(&to_vec(dist.mean()), &flat(&r["mean"]), 1e-5, "mean");
}

#[test]
fn balanced_kl_with_free_bits_matches_the_reference() {
    let device = Device::flex();
    let r = &recording()["kl"];
    let shape = |v: &Value| [rows(v), rows(&v[0]), rows(&v[0][0])];
    let post = tensor_from_vec(
        flat(&r["post_log_probs"]),
        shape(&r["post_log_probs"]),
        &device,
    );
    let prior = tensor_from_vec(
        flat(&r["prior_log_probs"]),
        shape(&r["prior_log_probs"]),
        &device,
    );
    for (free, want) in r["free"].as_object().unwrap() {
        let kl = balanced_kl(post.clone(), prior.clone(), free.parse().unwrap());
        assert_close(
            &to_vec(kl.dynamics),
            &flat(&want["dynamics"]),
            1e-5,
            "dynamics",
        );
        assert_close(
            &to_vec(kl.representation),
            &flat(&want["representation"]),
            1e-5,
            "representation",
        );
    }
}

#[test]
fn the_actor_loss_matches_the_reference_with_both_estimators() {
    // Our pieces, composed as `behaviour_losses` composes them, on the
    // reference's trajectory: the unimix policy's log-probabilities and
    // entropies, the trajectory weights, lambda-returns, the normaliser's
    // scale (first update), and the loss itself.
    let device = Device::flex();
    let r = &recording()["actor_loss"];
    let discount = r["discount"].as_f64().unwrap() as f32;
    let lambda = r["lambda"].as_f64().unwrap() as f32;
    let (t, n) = (rows(&r["rewards"]), rows(&r["rewards"][0]));
    let (h, classes) = (t - 1, rows(&r["logits"][0][0]));
    let policy = OneHotCategorical::new(
        tensor_from_vec(flat(&r["logits"]), [t * n, classes], &device),
        0.01,
    );
    let actions = tensor_from_vec(flat(&r["actions"]), [t * n, classes], &device);
    // Time-major rows [T * N] to [N, T].
    let by_start = |x: Tensor<2>| x.reshape([t, n]).swap_dims(0, 1);
    let log_prob = by_start(policy.log_prob(actions));
    let entropy = by_start(policy.entropy());
    assert_close(
        &to_vec(log_prob.clone()),
        &to_vec(by_row(&r["log_prob"], &device)),
        1e-5,
        "log_prob",
    );
    assert_close(
        &to_vec(entropy.clone()),
        &to_vec(by_row(&r["entropy"], &device)),
        1e-5,
        "entropy",
    );
    let continues = by_row(&r["continues"], &device);
    let weights = trajectory_weights(continues.clone(), discount);
    assert_close(
        &to_vec(weights.clone()),
        &to_vec(by_row(&r["weights"], &device)),
        1e-5,
        "weights",
    );
    let values = by_row(&r["values"], &device);
    let returns = lambda_returns(
        by_row(&r["rewards"], &device),
        continues,
        values.clone(),
        discount,
        lambda,
    );
    let scale = ReturnNormalizer::new(0.01, 1.0, 5.0, 95.0).update(&to_vec(returns.clone()));
    let advantage = (returns - values.slice([0..n, 0..h])) / scale;
    let entropy_scale = r["entropy_scale"].as_f64().unwrap() as f32;
    for (estimator, log_prob) in [("reinforce", Some(log_prob)), ("backprop", None)] {
        let loss = actor_loss(
            advantage.clone(),
            log_prob.map(|l| l.slice([0..n, 0..h])),
            entropy.clone().slice([0..n, 0..h]),
            weights.clone().slice([0..n, 0..h]),
            entropy_scale,
            1.0,
        );
        let want = r["loss"][estimator].as_f64().unwrap() as f32;
        assert_close(&to_vec(loss), &[want], 1e-5, estimator);
    }
}

#[test]
fn the_critic_loss_matches_the_reference_with_the_slow_critics_regulariser() {
    // The reference's `VFunction.loss` on fixed critic and slow-critic
    // logits: our twohot means of the slow critic, and the loss.
    let device = Device::flex();
    let r = &recording()["critic_loss"];
    let (h, n) = (rows(&r["targets"]), rows(&r["targets"][0]));
    let bins = rows(&r["logits"][0][0]);
    // Time-major rows [H * N], as behaviour_losses keeps them.
    let dist = |key: &str| {
        BinnedScalar::new(
            tensor_from_vec(flat(&r[key]), [h * n, bins], &device),
            BinSpace::dreamer(),
        )
    };
    let slow_mean = dist("slow_logits").mean();
    assert_close(
        &to_vec(slow_mean.clone()),
        &flat(&r["slow_mean"]),
        1e-5,
        "slow mean",
    );
    let targets = tensor_from_vec(flat(&r["targets"]), [h * n], &device);
    let loss = critic_loss(
        &dist("logits"),
        targets,
        slow_mean,
        by_row(&r["weights"], &device),
        &LossScales::default(),
    );
    let want = r["loss"].as_f64().unwrap() as f32;
    assert_close(&to_vec(loss), &[want], 1e-5, "critic loss");
}
