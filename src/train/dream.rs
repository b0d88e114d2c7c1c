//! `somnium dream`: the world model's open-loop predictions beside reality.
//!
//! One greedy episode is played with the run's newest checkpoint. The
//! world model sees the first `context` observations (its frames there are
//! reconstructions from the posterior), then only the actions that were
//! actually taken: it imagines the rest with its prior, and the decoder
//! renders each imagined state. Real and predicted frames are drawn side
//! by side (a green bar over context steps, red over imagined ones) into
//! an animated GIF, or into a PNG strip (real row above predicted row).
//! Per-step squared errors are written beside the picture as JSON, so the
//! growth of the open-loop error can be compared between runs, with the
//! rewards received beside those the reward head predicts at each step
//! and the continue head's probability: a model that predicts pictures
//! well but rewards only at their average rate teaches the actor to
//! survive rather than to score (a long `--context` scores the
//! reward head on a whole episode).
//!
//! Works for image observations: rendered environments (`env.pixels =
//! true`, "pixel CartPole") and MinAtar's `[10, 10, C]` grids, each
//! channel drawn in its own colour.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Tensor;
use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, Rgb, RgbImage, RgbaImage};
use serde::Serialize;

use super::checkpoint::Checkpoint;
use super::collect::make_env;
use super::run::{agent_name, config_hash};
use super::{ActionCodec, Agent, RunDir};
use crate::config::AgentKind;
use crate::core::{ContinueModel, ObservationModel, ObservationPrediction, RewardModel};
use crate::core::{Dynamics, Encoder, LatentState, Noise, ObsBatch, ObsKind};
use crate::device::open_device;
use crate::dreamer::DreamerAgent;
use crate::nn::tensor_util::{tensor_from_vec, to_vec};
use crate::{Error, Result};

/// Colours of MinAtar-style channels, in channel order (cycled beyond 10).
const PALETTE: [[u8; 3]; 10] = [
    [230, 25, 75],
    [60, 180, 75],
    [255, 225, 25],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
    [240, 50, 230],
    [210, 245, 60],
    [250, 190, 212],
];

/// The squared errors of a dream, per step, in the encoder's scaled units.
#[derive(Debug, Serialize)]
struct DreamErrors {
    context: usize,
    steps: usize,
    /// Mean squared error of each predicted frame against the real one.
    mse: Vec<f32>,
    /// Mean over the context steps (reconstruction).
    context_mse: f32,
    /// Mean over the imagined steps (open-loop prediction).
    open_loop_mse: f32,
    /// Reward received on arriving at each step (0 at the start).
    reward: Vec<f32>,
    /// The reward head's mean at each step.
    predicted_reward: Vec<f32>,
    /// The continue head's probability that the episode goes on after each step.
    predicted_continue: Vec<f32>,
    /// Mean predicted reward over the steps that paid a reward (none: null).
    predicted_reward_where_paid: Option<f32>,
    /// Mean predicted reward over the other steps.
    predicted_reward_elsewhere: Option<f32>,
}

/// Render a dream of the run's newest checkpoint, or of the one written at
/// `checkpoint` environment steps; returns the picture's path.
pub fn dream(
    run_dir: &Path,
    checkpoint: Option<u64>,
    context: usize,
    horizon: usize,
    output: Option<&Path>,
    overrides: &[String],
) -> Result<PathBuf> {
    let run = RunDir::open(run_dir)?;
    let config = run.load_config(overrides)?;
    if config.agent != AgentKind::Dreamer {
        return Err(Error::Unsupported(format!(
            "`somnium dream` needs a world model with an observation decoder (DreamerV3); \
             this run's agent is {}",
            agent_name(config.agent)
        )));
    }
    if context == 0 {
        return Err(Error::Unsupported(
            "--context must be at least 1: the model needs one real observation to start from"
                .into(),
        ));
    }
    let checkpoint = Checkpoint::chosen(&run.checkpoints(), checkpoint, "dream from")?;
    checkpoint.check_config(&config_hash(&config), agent_name(config.agent))?;
    let mut env = make_env(&config.env)?;
    let kind = ObsKind::of(env.observation_space());
    let ObsKind::Image { shape, pixels } = kind else {
        return Err(Error::Unsupported(format!(
            "`somnium dream` draws image observations, and {}'s are {}; train with \
             `env.pixels = true` to dream in pixels",
            config.env.id,
            env.observation_space().describe()
        )));
    };
    let device = open_device(&config.run.device, config.run.precision)?;
    let mut agent = DreamerAgent::new(
        &config.dreamer,
        env.observation_space(),
        env.action_space(),
        1,
        config.run.seed,
        &device,
    )?;
    agent.load(&checkpoint.dir)?;
    let codec = ActionCodec::new(env.action_space())?;

    // One greedy episode, up to context + horizon steps.
    let steps = context + horizon;
    let mut observations = vec![env.reset(Some(config.run.seed ^ 0xd7ea))?];
    let mut rewards = vec![0.0];
    let mut actions = Vec::new();
    while actions.len() < steps {
        let first = actions.is_empty();
        let action = agent
            .act(
                1,
                std::slice::from_ref(observations.last().expect("one")),
                &[first],
                true,
            )
            .remove(0);
        let step = env.step(&action)?;
        actions.push(codec.encode(&action));
        observations.push(step.obs);
        rewards.push(step.reward);
        if step.terminated || step.truncated {
            break;
        }
    }
    let context = context.min(observations.len());

    // Filter the context, then imagine with the actions taken.
    let model = agent.world_model().valid();
    let plain = device.clone().inner();
    let mut noise = Noise::new(config.run.seed ^ 0xd7ea);
    let mut state = model.rssm.initial(1, &plain);
    let mut previous = Tensor::<2>::zeros([1, codec.width()], &plain);
    let mut predicted = Vec::with_capacity(observations.len());
    let (mut predicted_reward, mut predicted_continue) = (Vec::new(), Vec::new());
    for (t, obs) in observations.iter().enumerate() {
        if t < context {
            let embed = model.encoder.encode(&ObsBatch::from_observations(
                std::slice::from_ref(obs),
                kind,
                &plain,
            ));
            let is_first = tensor_from_vec(vec![if t == 0 { 1.0 } else { 0.0 }], [1], &plain);
            state = model
                .rssm
                .observe(&state, previous.clone(), embed, is_first, &mut noise)
                .posterior;
        } else {
            state = model.rssm.imagine(&state, previous.clone(), &mut noise);
        }
        let features = state.features();
        let reward = model.reward_head.reward(features.clone()).mean();
        predicted_reward.push(to_vec(reward)[0]);
        let continues = model.continue_head.continuation(features.clone()).mean();
        predicted_continue.push(to_vec(continues)[0]);
        let ObservationPrediction::Image(frame) = model.decoder.decode(features) else {
            unreachable!("image observations have an image decoder")
        };
        predicted.push(to_vec(frame));
        if let Some(action) = actions.get(t) {
            previous = tensor_from_vec(action.clone(), [1, codec.width()], &plain);
        }
    }
    let real: Vec<Vec<f32>> = observations
        .iter()
        .map(
            |o| match ObsBatch::from_observations(std::slice::from_ref(o), kind, &plain) {
                ObsBatch::Image(t) => to_vec(t),
                ObsBatch::Vector(t) => to_vec(t),
            },
        )
        .collect();

    let output = output.map_or_else(|| run.videos().join("dream.gif"), Path::to_path_buf);
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
    }
    let painter = Painter { shape, pixels };
    let is_png = output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if is_png {
        painter.strip(&real, &predicted, context).save(&output)
    } else {
        painter.gif(&real, &predicted, context, &output)
    }
    .map_err(|e| Error::io("writing the dream", &output, std::io::Error::other(e)))?;

    let mse: Vec<f32> = real
        .iter()
        .zip(&predicted)
        .map(|(r, p)| r.iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum::<f32>() / r.len() as f32)
        .collect();
    let average = |xs: &[f32]| {
        if xs.is_empty() {
            0.0
        } else {
            xs.iter().sum::<f32>() / xs.len() as f32
        }
    };
    let predicted_where = |paid: bool| {
        let picked: Vec<f32> = (1..rewards.len())
            .filter(|&t| (rewards[t] != 0.0) == paid)
            .map(|t| predicted_reward[t])
            .collect();
        (!picked.is_empty()).then(|| average(&picked))
    };
    let errors = DreamErrors {
        context,
        steps: mse.len(),
        context_mse: average(&mse[..context]),
        open_loop_mse: average(&mse[context..]),
        mse,
        predicted_reward_where_paid: predicted_where(true),
        predicted_reward_elsewhere: predicted_where(false),
        reward: rewards,
        predicted_reward,
        predicted_continue,
    };
    let json = output.with_extension("json");
    let text = serde_json::to_string_pretty(&errors).expect("errors serialise");
    std::fs::write(&json, text).map_err(|e| Error::io("writing", &json, e))?;
    Ok(output)
}

/// Draws observations in the encoder's scaled units (about [-0.5, 0.5]).
struct Painter {
    shape: [usize; 3],
    pixels: bool,
}

impl Painter {
    /// Pixels per observation cell: small grids (MinAtar's 10 x 10) are enlarged.
    fn zoom(&self) -> u32 {
        (128 / self.shape[0].max(self.shape[1])).clamp(1, 16) as u32
    }

    /// The RGB colour of cell `(y, x)` of a scaled observation.
    fn colour(&self, values: &[f32], y: usize, x: usize) -> [u8; 3] {
        let [_, w, c] = self.shape;
        let cell = &values[(y * w + x) * c..(y * w + x + 1) * c];
        let unit = |v: f32| ((v + 0.5).clamp(0.0, 1.0) * 255.0).round() as u8;
        if self.pixels && c == 3 {
            [unit(cell[0]), unit(cell[1]), unit(cell[2])]
        } else if self.pixels {
            [unit(cell[0]); 3]
        } else {
            // Channels of presence in [0, 1]: add up their colours.
            let mut rgb = [0.0f32; 3];
            for (ch, &v) in cell.iter().enumerate() {
                let strength = (v + 0.5).clamp(0.0, 1.0);
                for (sum, &p) in rgb.iter_mut().zip(&PALETTE[ch % PALETTE.len()]) {
                    *sum += strength * p as f32;
                }
            }
            rgb.map(|v| v.min(255.0) as u8)
        }
    }

    /// Paint `values` into `canvas` with its top-left corner at `(left, top)`.
    fn paint(&self, canvas: &mut RgbImage, values: &[f32], left: u32, top: u32) {
        let zoom = self.zoom();
        let [h, w, _] = self.shape;
        for y in 0..h {
            for x in 0..w {
                let colour = Rgb(self.colour(values, y, x));
                for dy in 0..zoom {
                    for dx in 0..zoom {
                        let (px, py) = (left + x as u32 * zoom + dx, top + y as u32 * zoom + dy);
                        canvas.put_pixel(px, py, colour);
                    }
                }
            }
        }
    }

    fn frame_size(&self) -> (u32, u32) {
        let zoom = self.zoom();
        (self.shape[1] as u32 * zoom, self.shape[0] as u32 * zoom)
    }

    /// One animation frame: real | predicted, under a bar that is green
    /// while the model sees real observations and red while it imagines.
    fn side_by_side(&self, real: &[f32], predicted: &[f32], imagined: bool) -> RgbImage {
        let (fw, fh) = self.frame_size();
        let (gap, bar) = (4, 6);
        let mut canvas = RgbImage::from_pixel(2 * fw + gap, fh + bar, Rgb([255, 255, 255]));
        let colour = if imagined {
            Rgb([220, 40, 40])
        } else {
            Rgb([40, 170, 60])
        };
        for x in 0..canvas.width() {
            for y in 0..bar - 2 {
                canvas.put_pixel(x, y, colour);
            }
        }
        self.paint(&mut canvas, real, 0, bar);
        self.paint(&mut canvas, predicted, fw + gap, bar);
        canvas
    }

    fn gif(
        &self,
        real: &[Vec<f32>],
        predicted: &[Vec<f32>],
        context: usize,
        path: &Path,
    ) -> image::ImageResult<()> {
        let file = std::fs::File::create(path)?;
        let mut encoder = GifEncoder::new_with_speed(file, 10);
        encoder.set_repeat(Repeat::Infinite)?;
        let frames = real.iter().zip(predicted).enumerate().map(|(t, (r, p))| {
            let rgba: RgbaImage =
                image::DynamicImage::ImageRgb8(self.side_by_side(r, p, t >= context)).to_rgba8();
            Frame::from_parts(rgba, 0, 0, Delay::from_numer_denom_ms(150, 1))
        });
        encoder.encode_frames(frames)
    }

    /// Every step in a column: the real frame above the predicted one, with
    /// the context/imagined bar between them.
    fn strip(&self, real: &[Vec<f32>], predicted: &[Vec<f32>], context: usize) -> RgbImage {
        let (fw, fh) = self.frame_size();
        let (gap, bar) = (2, 6);
        let columns = real.len() as u32;
        let mut canvas =
            RgbImage::from_pixel(columns * (fw + gap), 2 * fh + bar, Rgb([255, 255, 255]));
        for (t, (r, p)) in real.iter().zip(predicted).enumerate() {
            let left = t as u32 * (fw + gap);
            self.paint(&mut canvas, r, left, 0);
            let colour = if t >= context {
                Rgb([220, 40, 40])
            } else {
                Rgb([40, 170, 60])
            };
            for x in left..left + fw {
                for y in fh + 1..fh + bar - 1 {
                    canvas.put_pixel(x, y, colour);
                }
            }
            self.paint(&mut canvas, p, left, fh + bar);
        }
        canvas
    }
}
