//! `somnium dream --endings`: what the world model makes of every episode
//! ending its replay holds.
//!
//! A world model whose continue head has not learnt how episodes end lets
//! the actor walk into those endings in imagination (docs/results.md,
//! CartPole). One greedy episode (`somnium dream`) shows one ending; this
//! filters every whole episode of a checkpoint's replay through the model,
//! from its first step with the actions taken, as acting does, and
//! reports the continue head's probability at each episode's last step
//! (near 0 where the episode terminated) beside its lowest over the steps
//! before, with the last observation, so endings of different kinds (a
//! pole that fell, a cart off the track) can be told apart.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use serde::Serialize;

use crate::core::{Dynamics, Encoder, LatentState, Noise, ObsBatch, ObsKind, WorldModel};
use crate::nn::tensor_util::{tensor_from_vec, to_vec};
use crate::replay::StoredEpisode;

/// The steps before an ending over which
/// [`EndingPrediction::survival_over_approach`] multiplies the continue
/// head: DreamerV3's imagination horizon.
pub const APPROACH_STEPS: usize = 15;

/// What the model predicts over one stored episode.
#[derive(Debug, Clone, Serialize)]
pub struct EndingPrediction {
    /// The stream it was collected in.
    pub stream: usize,
    /// Steps, the first included.
    pub steps: usize,
    /// Whether it ended at a terminal step (else a time limit cut it).
    pub terminated: bool,
    /// The continue head's probability at the last step.
    pub continue_at_end: f32,
    /// Its lowest probability over the steps before the last.
    pub lowest_continue_before: f32,
    /// The product of its probabilities over the last [`APPROACH_STEPS`]
    /// steps (the last included; fewer in a shorter episode): the chance
    /// the model gives the episode of going on through its approach to the
    /// ending. An imagined rollout of DreamerV3's horizon that follows that
    /// approach is weighted by about this much at its end, so it is what
    /// tells the actor the ending is there; near 0 where the model has
    /// learnt the ending, near 1 where, in imagination, it never comes.
    pub survival_over_approach: f32,
    /// The last observation as stored (vector observations only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_observation: Option<Vec<f32>>,
}

/// Every ended episode's prediction, and means by how they ended.
#[derive(Debug, Clone, Serialize)]
pub struct EndingsReport {
    /// The checkpoint's environment steps.
    pub checkpoint: u64,
    /// Episodes that terminated.
    pub terminated: usize,
    /// Mean continue probability at their terminal steps.
    pub mean_continue_at_terminal: Option<f32>,
    /// Episodes a time limit cut.
    pub truncated: usize,
    /// Mean continue probability at their last steps.
    pub mean_continue_at_cut: Option<f32>,
    /// Each ended episode, oldest first.
    pub episodes: Vec<EndingPrediction>,
}

impl EndingsReport {
    /// The report of `episodes` (those that ended; the others are skipped),
    /// each filtered through `model`.
    pub fn of<M: WorldModel + Encoder>(
        model: &M,
        episodes: &[StoredEpisode],
        kind: ObsKind,
        checkpoint: u64,
        device: &Device,
    ) -> Self {
        let episodes: Vec<EndingPrediction> = episodes
            .iter()
            .filter(|e| e.ended && !e.obs.is_empty())
            .map(|e| predict(model, e, kind, device))
            .collect();
        let mean = |terminated: bool| {
            let picked: Vec<f32> = episodes
                .iter()
                .filter(|e| e.terminated == terminated)
                .map(|e| e.continue_at_end)
                .collect();
            (!picked.is_empty()).then(|| picked.iter().sum::<f32>() / picked.len() as f32)
        };
        EndingsReport {
            checkpoint,
            terminated: episodes.iter().filter(|e| e.terminated).count(),
            mean_continue_at_terminal: mean(true),
            truncated: episodes.iter().filter(|e| !e.terminated).count(),
            mean_continue_at_cut: mean(false),
            episodes,
        }
    }

    /// Write the report as JSON to `path`.
    pub fn write(&self, path: &Path) -> crate::Result<PathBuf> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| crate::Error::io("creating", parent, e))?;
        }
        let text = serde_json::to_string_pretty(self).expect("the report serialises");
        std::fs::write(path, text).map_err(|e| crate::Error::io("writing", path, e))?;
        Ok(path.to_path_buf())
    }
}

/// Filter one episode step by step (batch 1) and read the continue head.
fn predict<M: WorldModel + Encoder>(
    model: &M,
    episode: &StoredEpisode,
    kind: ObsKind,
    device: &Device,
) -> EndingPrediction {
    let dynamics = model.dynamics();
    let mut noise = Noise::new(0xe1d5);
    let mut state = dynamics.initial(1, device);
    let mut continues = Vec::with_capacity(episode.obs.len());
    for (t, (obs, action)) in episode.obs.iter().zip(&episode.actions).enumerate() {
        let obs = ObsBatch::from_flat(obs.clone(), 1, kind, device);
        let action: Tensor<2> = tensor_from_vec(action.clone(), [1, action.len()], device);
        let is_first = tensor_from_vec(vec![if t == 0 { 1.0 } else { 0.0 }], [1], device);
        state = dynamics
            .observe(&state, action, model.encode(&obs), is_first, &mut noise)
            .posterior;
        let features = state.features();
        continues.push(
            model
                .continuation(features)
                .map_or(1.0, |c| to_vec(c.mean())[0]),
        );
    }
    let last = *continues.last().expect("one step");
    let before = &continues[..continues.len() - 1];
    EndingPrediction {
        stream: episode.stream,
        steps: episode.obs.len(),
        terminated: episode.terminated,
        continue_at_end: last,
        lowest_continue_before: before.iter().copied().fold(f32::INFINITY, f32::min),
        survival_over_approach: continues[continues.len().saturating_sub(APPROACH_STEPS)..]
            .iter()
            .product(),
        last_observation: matches!(kind, ObsKind::Vector { .. })
            .then(|| episode.obs.last().expect("one").clone()),
    }
}
