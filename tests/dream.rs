//! `somnium dream` on a (briefly) trained DreamerV3 or STORM: it writes the GIF, the
//! PNG strip and the per-step errors for image observations (MinAtar's
//! grids, rendered CartPole), the SVG chart for vector observations
//! (CartPole), and refuses, saying why, a picture it cannot draw.

use std::path::Path;

use somnium::config::{ExperimentConfig, load_str};
use somnium::train::{dream, dream_endings, train_config};

fn tiny(env: &str, logdir: &Path) -> ExperimentConfig {
    let text = format!(
        r#"
agent = "dreamer"
[env]
{env}
[run]
env_steps = 160
prefill = 100
checkpoint_every = 160
eval_every = 0
progress = false
tensorboard = false
logdir = "{logdir}"
[dreamer]
train_ratio = 16
[dreamer.rssm]
deter = 32
hidden = 32
stoch = 4
classes = 4
[dreamer.encoder]
cnn_depth = 4
min_resolution = 5
mlp_units = 32
[dreamer.heads]
layers = 1
units = 32
[dreamer.replay]
batch = 2
length = 8
"#,
        logdir = logdir.display()
    );
    load_str(&text, "tiny.toml", &[]).unwrap()
}

fn read_errors(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path.with_extension("json")).unwrap()).unwrap()
}

#[test]
fn dreams_minatar_grids_rendered_cartpole_and_cartpole_vectors() {
    let logdir = tempfile::tempdir().unwrap();

    // MinAtar: [10, 10, 4] grids, one colour per channel.
    let run = train_config(
        &tiny(r#"id = "MinAtar/Breakout-v1""#, logdir.path()),
        "minatar",
    )
    .unwrap();
    let gif = dream(&run, None, 3, 6, None, &[]).unwrap();
    assert_eq!(gif, run.join("videos/dream.gif"));
    let bytes = std::fs::read(&gif).unwrap();
    assert_eq!(&bytes[..6], b"GIF89a");
    let errors = read_errors(&gif);
    let steps = errors["steps"].as_u64().unwrap();
    assert!(
        (4..=10).contains(&steps),
        "context 3 + horizon 6 + the start, or up to the episode's end: {steps}"
    );
    assert_eq!(errors["mse"].as_array().unwrap().len() as u64, steps);
    for series in ["reward", "predicted_reward", "predicted_continue"] {
        let values = errors[series].as_array().unwrap();
        assert_eq!(values.len() as u64, steps, "{series}");
        assert!(
            values.iter().all(|v| v.as_f64().unwrap().is_finite()),
            "{series}"
        );
    }
    let continues = errors["predicted_continue"].as_array().unwrap();
    assert!(
        continues
            .iter()
            .all(|p| (0.0..=1.0).contains(&p.as_f64().unwrap()))
    );
    assert!(errors["open_loop_mse"].as_f64().unwrap().is_finite());
    // The action before each step: Breakout's indices 0..3.
    let actions = errors["actions"].as_array().unwrap();
    assert_eq!(actions.len() as u64, steps - 1);
    assert!(
        actions.iter().all(|a| a.as_u64().unwrap() < 3),
        "{actions:?}"
    );
    assert!(
        errors.get("observations").is_none(),
        "frames stay in the picture"
    );

    // A named checkpoint: the one the run wrote, or an error naming the step.
    let named = logdir.path().join("named.gif");
    dream(&run, Some(160), 1, 2, Some(&named), &[]).unwrap();
    assert!(named.exists());
    let err = dream(&run, Some(80), 1, 2, Some(&named), &[]).unwrap_err();
    assert!(err.to_string().contains("80"), "{err}");

    let png = logdir.path().join("strip.png");
    dream(&run, None, 2, 4, Some(&png), &[]).unwrap();
    let strip = std::fs::read(&png).unwrap();
    assert_eq!(&strip[1..4], b"PNG");
    // Width: one 120-pixel column (10 cells x 12) plus a gap per step.
    let width = u32::from_be_bytes(strip[16..20].try_into().unwrap());
    let steps = read_errors(&png)["steps"].as_u64().unwrap() as u32;
    assert_eq!(width, steps * (120 + 2));

    // Rendered CartPole.
    let pixels = r#"id = "CartPole-v1"
pixels = true
pixel_size = 16"#;
    let run = train_config(&tiny(pixels, logdir.path()), "pixels").unwrap();
    let gif = dream(&run, None, 2, 3, None, &[]).unwrap();
    assert!(
        read_errors(&gif)["context_mse"]
            .as_f64()
            .unwrap()
            .is_finite()
    );

    // Images are frames; another extension is an error naming the choices.
    let err = dream(&run, None, 2, 3, Some(&logdir.path().join("d.svg")), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("d.svg") && err.contains(".gif"), "{err}");

    // Vector CartPole: a chart of the four features, the reward and the
    // continuation, each real beside predicted.
    let run = train_config(&tiny(r#"id = "CartPole-v1""#, logdir.path()), "vector").unwrap();
    let svg = dream(&run, None, 2, 3, None, &[]).unwrap();
    assert_eq!(svg, run.join("videos/dream.svg"));
    let chart = std::fs::read_to_string(&svg).unwrap();
    for panel in ["observation[0]", "observation[3]", "reward", "continue"] {
        assert!(chart.contains(panel), "no {panel} panel");
    }
    assert!(!chart.contains("observation[4]"));
    let errors = read_errors(&svg);
    let steps = errors["steps"].as_u64().unwrap();
    assert!((2..=6).contains(&steps), "{steps}");
    assert!(errors["open_loop_mse"].as_f64().unwrap().is_finite());
    for series in ["observations", "predicted_observations"] {
        let rows = errors[series].as_array().unwrap();
        assert_eq!(rows.len() as u64, steps, "{series}");
        assert!(
            rows.iter().all(|r| r.as_array().unwrap().len() == 4),
            "{series}"
        );
    }
    // CartPole starts within 0.05 of upright and centred.
    let start = errors["observations"][0].as_array().unwrap();
    assert!(
        start
            .iter()
            .all(|x| x.as_f64().unwrap().abs() <= 0.05 + 1e-6)
    );
    let terminated = errors["terminated"].as_bool().unwrap();
    assert!(terminated || steps == 6, "a short episode ends terminal");
    let err = dream(&run, None, 2, 3, Some(&logdir.path().join("v.gif")), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("v.gif") && err.contains(".svg"), "{err}");
}

/// `somnium dream --endings`: every episode of the replay that ended, read
/// through the model, its last step the one where CartPole's pole fell or
/// the cart left the track.
#[test]
fn endings_report_the_continue_head_at_every_stored_ending() {
    let logdir = tempfile::tempdir().unwrap();
    let run = train_config(&tiny(r#"id = "CartPole-v1""#, logdir.path()), "endings").unwrap();
    let (path, report) = dream_endings(&run, None, None, &[]).unwrap();
    assert_eq!(path, run.join("videos/endings.json"));
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        written["terminated"].as_u64().unwrap() as usize,
        report.terminated
    );
    // 160 steps of mostly random play: several episodes, none at 500 steps.
    assert!(report.terminated >= 3, "{} endings", report.terminated);
    assert_eq!(report.truncated, 0);
    assert_eq!(report.episodes.len(), report.terminated);
    for episode in &report.episodes {
        assert!((0.0..=1.0).contains(&episode.continue_at_end));
        // A product of probabilities that includes the last step's.
        assert!(
            episode.survival_over_approach <= episode.continue_at_end
                && episode.survival_over_approach >= 0.0,
            "{episode:?}"
        );
        let last = episode.last_observation.as_ref().unwrap();
        assert_eq!(last.len(), 4);
        assert!(
            last[0].abs() > 2.4 || last[2].abs() > 12f32.to_radians(),
            "the last step is the terminal one: {last:?}"
        );
    }
    let mean = report.mean_continue_at_terminal.unwrap();
    assert!((0.0..=1.0).contains(&mean));
}

/// The 2025 image encoder and decoder (`encoder.cnn = "pooled"`) train and
/// dream on MinAtar's 10x10 grids with one halving (to 5x5); with the
/// default four multipliers the grids do not halve evenly, and the run
/// refuses before training, naming the key.
#[test]
fn the_pooled_cnn_trains_and_dreams_and_names_the_key_when_images_do_not_halve() {
    let logdir = tempfile::tempdir().unwrap();
    let minatar = r#"id = "MinAtar/Breakout-v1""#;
    let mut config = tiny(minatar, logdir.path());
    config.dreamer.encoder.cnn = somnium::dreamer::CnnKind::Pooled;
    config.dreamer.encoder.cnn_mults = vec![2];
    config.dreamer.encoder.cnn_kernel = 3;
    config.dreamer.encoder.cnn_decoder_blocks = 4;
    let run = train_config(&config, "pooled").unwrap();
    let gif = dream(&run, None, 2, 3, None, &[]).unwrap();
    let errors = read_errors(&gif);
    assert!(errors["open_loop_mse"].as_f64().unwrap().is_finite());

    config.dreamer.encoder.cnn_mults = vec![2, 3, 4, 4];
    let err = train_config(&config, "unhalved").unwrap_err().to_string();
    assert!(
        err.contains("dreamer.encoder.cnn_mults") && err.contains("10x10"),
        "{err}"
    );
}

/// STORM dreams through the same command: its context filters through the
/// transformer's cache, its imagination is cached steps, its decoder reads
/// the latent alone; on rendered CartPole (64 x 64 frames) and on vectors.
#[test]
fn storm_dreams_frames_and_vectors() {
    let logdir = tempfile::tempdir().unwrap();
    let storm = |env: &str| {
        let text = format!(
            r#"
agent = "storm"
[env]
{env}
[run]
env_steps = 160
prefill = 100
checkpoint_every = 160
eval_every = 0
progress = false
tensorboard = false
logdir = "{logdir}"
[storm]
train_ratio = 16
[storm.model]
width = 16
heads = 2
layers = 1
feed_forward = 32
stoch = 4
classes = 4
head_layers = 1
head_units = 16
[storm.model.encoder]
cnn_depth = 4
mlp_units = 16
[storm.actor_critic.heads]
layers = 1
units = 16
[storm.replay]
batch = 2
length = 8
"#,
            logdir = logdir.path().display()
        );
        load_str::<ExperimentConfig>(&text, "tiny.toml", &[]).unwrap()
    };
    let pixels = r#"id = "CartPole-v1"
pixels = true"#;
    let run = train_config(&storm(pixels), "storm-pixels").unwrap();
    let gif = dream(&run, None, 2, 4, None, &[]).unwrap();
    assert_eq!(gif, run.join("videos/dream.gif"));
    assert!(std::fs::metadata(&gif).unwrap().len() > 0);
    let errors = read_errors(&gif);
    assert_eq!(errors["context"], 2);
    assert!(errors["open_loop_mse"].as_f64().unwrap().is_finite());

    let run = train_config(&storm(r#"id = "CartPole-v1""#), "storm-vector").unwrap();
    let svg = dream(&run, None, 2, 3, None, &[]).unwrap();
    let chart = std::fs::read_to_string(&svg).unwrap();
    for panel in ["observation[0]", "reward", "continue"] {
        assert!(chart.contains(panel), "no {panel} panel");
    }
    let errors = read_errors(&svg);
    let continues = errors["predicted_continue"].as_array().unwrap();
    assert!(
        continues
            .iter()
            .all(|p| (0.0..=1.0).contains(&p.as_f64().unwrap()))
    );
}
