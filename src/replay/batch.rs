//! A batch of replayed sequences, time-major, and its split into shares
//! for data-parallel updates.

use super::latents::StartLatents;

/// A sampled batch, time-major: row `t * B + b` is step `t` of sequence `b`.
#[derive(Debug, Clone)]
pub struct SequenceBatch {
    /// Sequences `B`.
    pub batch: usize,
    /// Steps per sequence `T`.
    pub length: usize,
    /// Observations `[T * B * obs_len]`.
    pub obs: Vec<f32>,
    /// Actions `[T * B * A]`.
    pub actions: Vec<f32>,
    /// Rewards `[T * B]`.
    pub rewards: Vec<f32>,
    /// First-step flags `[T * B]` (1.0 or 0.0); step 0 of every sequence is marked first.
    pub is_first: Vec<f32>,
    /// Terminal flags `[T * B]`.
    pub is_terminal: Vec<f32>,
    /// Where each row is kept: `(stream, slot)` `[T * B]`, to store the
    /// latents an update computes there.
    pub positions: Vec<(u32, u32)>,
    /// The stored latents of the step before each sequence (sampled with a
    /// replay context; `None` otherwise).
    pub start: Option<StartLatents>,
}

impl SequenceBatch {
    /// The episode endings (terminal steps) the batch holds: how often an
    /// update shows the world model the rare states its continue head must
    /// learn, which the replay's selectors change.
    pub fn terminals(&self) -> f64 {
        self.is_terminal.iter().map(|&t| t as f64).sum()
    }

    /// Split the sequences into `parts` contiguous groups of (nearly) equal
    /// size, for data-parallel updates; empty groups are left out.
    pub fn split(&self, parts: usize) -> Vec<SequenceBatch> {
        let (b, t) = (self.batch, self.length);
        let rows = t * b;
        let (obs_len, action_len) = (self.obs.len() / rows, self.actions.len() / rows);
        let per = b.div_ceil(parts.max(1));
        (0..b)
            .step_by(per.max(1))
            .map(|first| {
                let n = per.min(b - first);
                let pick_f32 = |v: &[f32], width: usize| pick(v, width, t, b, first, n);
                SequenceBatch {
                    batch: n,
                    length: t,
                    obs: pick_f32(&self.obs, obs_len),
                    actions: pick_f32(&self.actions, action_len),
                    rewards: pick_f32(&self.rewards, 1),
                    is_first: pick_f32(&self.is_first, 1),
                    is_terminal: pick_f32(&self.is_terminal, 1),
                    positions: pick(&self.positions, 1, t, b, first, n),
                    start: self.start.as_ref().map(|s| s.columns(first, n)),
                }
            })
            .collect()
    }
}

/// Sequences `first..first + n` of a time-major `[t * b * width]` array.
fn pick<T: Copy>(v: &[T], width: usize, t: usize, b: usize, first: usize, n: usize) -> Vec<T> {
    (0..t)
        .flat_map(|step| {
            let start = (step * b + first) * width;
            v[start..start + n * width].iter().copied()
        })
        .collect()
}
