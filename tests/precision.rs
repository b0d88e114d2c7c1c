//! Half-precision training (`run.precision`): a device switched to bf16
//! holds bf16 parameters, a DreamerV3 world model still learns in it, and a
//! device cannot silently change precision once it holds tensors.
//!
//! Its own test binary: a device's float type is fixed per process, and
//! the other tests use flex in f32.

use burn::tensor::FloatDType;
use somnium::core::Noise;
use somnium::device::{Precision, open_device};
use somnium::dreamer::{DreamerAgent, DreamerConfig};
use somnium::envs::{Env, random_action};
use somnium::train::Agent;

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

    let mut c = DreamerConfig::default();
    c.rssm.deter = 64;
    c.rssm.hidden = 64;
    c.rssm.stoch = 4;
    c.rssm.classes = 4;
    c.encoder.mlp_layers = 1;
    c.encoder.mlp_units = 64;
    c.heads.layers = 1;
    c.heads.units = 64;
    c.replay.batch = 8;
    c.replay.length = 16;
    c.behaviour.horizon = 5;
    c.optimizer.model_lr = 1e-3;
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
    let mut noise = Noise::new(0);
    let first = env.reset(Some(0)).unwrap();
    agent.record(0, &first, None, 0.0, true, false);
    for _ in 0..500 {
        let action = random_action(env.action_space(), noise.rng());
        let step = env.step(&action).unwrap();
        agent.record(
            0,
            &step.obs,
            Some(&action),
            step.reward,
            false,
            step.terminated,
        );
        if step.terminated || step.truncated {
            let first = env.reset(None).unwrap();
            agent.record(0, &first, None, 0.0, true, false);
        }
    }
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
