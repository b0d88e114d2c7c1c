//! Half-precision training (`run.precision`): a device switched to bf16
//! holds bf16 parameters, its optimisers keep the steps bf16 cannot
//! represent (f32 master weights), a DreamerV3 world model still learns in
//! it, and a device cannot silently change precision once it holds tensors.
//!
//! Its own test binary: a device's float type is fixed per process, and
//! the other tests use flex in f32.

mod common;

use burn::tensor::FloatDType;
use somnium::core::Noise;
use somnium::device::{Precision, open_device};
use somnium::dreamer::{DreamerAgent, DreamerConfig};
use somnium::train::record_random_play;

fn loss(metrics: &[(String, f64)]) -> f64 {
    metrics
        .iter()
        .filter(|(name, _)| name == "loss/decoder" || name == "loss/reward")
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn bf16_world_model_learns_and_precision_is_fixed_per_process() {
    let device = open_device("flex", Precision::Bf16).unwrap();
    assert_eq!(device.settings().float_dtype, FloatDType::BF16);

    // 50 Adam steps of 1e-4 take 1.0 to 0.995; bf16 numbers just below 1.0
    // are 3.9e-3 apart, so every plain bf16 step rounds back to 1.0.
    let (plain, master) = common::plain_and_master(&device, 1.0, 1e-4, 50);
    assert_eq!(plain, 1.0, "plain bf16 Adam was expected to lose the steps");
    assert!((master - 0.995).abs() < 3.9e-3, "{master}");

    let mut c = DreamerConfig::tiny();
    c.behaviour.horizon = 5;
    let mut env = somnium::envs::make("CartPole-v1").unwrap();
    let mut agent = DreamerAgent::new(
        &c,
        env.observation_space(),
        env.action_space(),
        1,
        0,
        &device,
    )
    .unwrap();
    record_random_play(&mut agent, env.as_mut(), 500, &mut Noise::new(0)).unwrap();
    let first_loss = loss(&agent.train_step().unwrap());
    let mut last = Vec::new();
    for _ in 0..60 {
        last.push(loss(&agent.train_step().unwrap()));
    }
    let late = last[50..].iter().sum::<f64>() / 10.0;
    eprintln!("bf16 world model: decoder + reward loss {first_loss:.3} -> {late:.3}");
    assert!(
        late < 0.5 * first_loss,
        "bf16 training should halve the reconstruction and reward loss: {first_loss} -> {late}"
    );

    let err = open_device("flex", Precision::F32).unwrap_err().to_string();
    assert!(err.contains("flex") && err.contains("f32"), "{err}");
}
