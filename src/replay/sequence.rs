//! Sequence replay with per-environment ring buffers.

use serde::{Deserialize, Serialize};

use super::batch::SequenceBatch;
use super::latents::{LatentStore, StartLatents};
use super::online::OnlineQueue;
use super::selectors::{PriorityConfig, ReplayFractions, Selection, Selector};
use crate::core::{Noise, ObsKind};

/// One step of one environment copy, in DreamerV3's layout: the
/// observation, the action that led to it, the reward received on arriving,
/// and the flags of that arrival.
#[derive(Debug, Clone)]
pub struct Transition<'a> {
    /// The observation, flattened (`ObsKind::flat_len` values).
    pub obs: &'a [f32],
    /// The action taken before this observation (zeros on a first step) `[A]`.
    pub action: &'a [f32],
    /// The reward received on arriving here (0 on a first step).
    pub reward: f32,
    /// This observation starts an episode.
    pub is_first: bool,
    /// This observation ends the episode by termination (not truncation).
    pub is_terminal: bool,
}

/// A whole episode as the replay holds it (see [`SequenceReplay::episodes`]).
#[derive(Debug, Clone, Default)]
pub struct StoredEpisode {
    /// The stream (environment copy) it was collected in.
    pub stream: usize,
    /// Each step's observation, flattened as stored (images as 0-255).
    pub obs: Vec<Vec<f32>>,
    /// The action before each step (zeros at the first).
    pub actions: Vec<Vec<f32>>,
    /// The reward on arriving at each step.
    pub rewards: Vec<f32>,
    /// It ended at a terminal step.
    pub terminated: bool,
    /// It ended (by termination or a time limit's cut), rather than being
    /// the stream's unfinished last episode.
    pub ended: bool,
}

/// Observations stored compactly: images (and binary grids) as bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum ObsStore {
    F32(Vec<f32>),
    U8(#[serde(with = "serde_bytes")] Vec<u8>),
}

/// A ring buffer of one environment copy's stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stream {
    obs: ObsStore,
    actions: Vec<f32>,
    rewards: Vec<f32>,
    is_first: Vec<bool>,
    is_terminal: Vec<bool>,
    /// Index of the oldest step.
    head: usize,
    /// Steps held.
    len: usize,
}

/// DreamerV3's sequence replay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SequenceReplay {
    streams: Vec<Stream>,
    capacity_per_stream: usize,
    obs_len: usize,
    action_len: usize,
    /// Total steps ever added.
    pub added: u64,
    /// The latents of the steps, when sequences start from them (the 2025
    /// design's replay context; older checkpoints have none).
    #[serde(default)]
    latents: Option<LatentStore>,
    /// The 2025 design's queue of windows not yet trained on (`None`
    /// without `replay.online`).
    #[serde(default)]
    online: Option<OnlineQueue>,
    /// The 2025 design's selector mixture, with every step's priority
    /// (`None`: uniform only).
    #[serde(default)]
    selection: Option<Selection>,
}

impl SequenceReplay {
    /// A buffer of `capacity` steps in all, split evenly over `streams` copies.
    pub fn new(capacity: usize, streams: usize, obs_kind: ObsKind, action_len: usize) -> Self {
        let per = (capacity / streams).max(2);
        let obs_len = obs_kind.flat_len();
        let bytes = matches!(obs_kind, ObsKind::Image { .. });
        let stream = |_| Stream {
            obs: if bytes {
                ObsStore::U8(Vec::new())
            } else {
                ObsStore::F32(Vec::new())
            },
            actions: Vec::new(),
            rewards: Vec::new(),
            is_first: Vec::new(),
            is_terminal: Vec::new(),
            head: 0,
            len: 0,
        };
        SequenceReplay {
            streams: (0..streams).map(stream).collect(),
            capacity_per_stream: per,
            obs_len,
            action_len,
            added: 0,
            latents: None,
            online: None,
            selection: None,
        }
    }

    /// Steps currently held.
    pub fn len(&self) -> usize {
        self.streams.iter().map(|s| s.len).sum()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Append a step to stream `index`, dropping its oldest step when full.
    pub fn add(&mut self, index: usize, step: &Transition) {
        assert_eq!(
            step.obs.len(),
            self.obs_len,
            "replay: observation has {} values, expected {}",
            step.obs.len(),
            self.obs_len
        );
        assert_eq!(
            step.action.len(),
            self.action_len,
            "replay: action has {} values, expected {}",
            step.action.len(),
            self.action_len
        );
        let cap = self.capacity_per_stream;
        let (obs_len, action_len) = (self.obs_len, self.action_len);
        let s = &mut self.streams[index];
        let slot = if s.len < cap { s.len } else { s.head };
        if s.len < cap {
            match &mut s.obs {
                ObsStore::F32(v) => v.extend_from_slice(step.obs),
                ObsStore::U8(v) => v.extend(step.obs.iter().map(|&x| x.clamp(0.0, 255.0) as u8)),
            }
            s.actions.extend_from_slice(step.action);
            s.rewards.push(step.reward);
            s.is_first.push(step.is_first);
            s.is_terminal.push(step.is_terminal);
            s.len += 1;
        } else {
            match &mut s.obs {
                ObsStore::F32(v) => {
                    v[slot * obs_len..(slot + 1) * obs_len].copy_from_slice(step.obs)
                }
                ObsStore::U8(v) => {
                    for (d, &x) in v[slot * obs_len..(slot + 1) * obs_len]
                        .iter_mut()
                        .zip(step.obs)
                    {
                        *d = x.clamp(0.0, 255.0) as u8;
                    }
                }
            }
            s.actions[slot * action_len..(slot + 1) * action_len].copy_from_slice(step.action);
            s.rewards[slot] = step.reward;
            s.is_first[slot] = step.is_first;
            s.is_terminal[slot] = step.is_terminal;
            s.head = (s.head + 1) % cap;
        }
        if let Some(latents) = &mut self.latents {
            latents.forget(index, slot);
        }
        if let Some(online) = &mut self.online {
            online.record(index);
        }
        if let Some(selection) = &mut self.selection {
            selection.record(index, slot);
        }
        self.added += 1;
    }

    /// Every whole episode held (its first step not yet dropped), stream
    /// by stream, oldest first: one that ends at a terminal step, at the
    /// next episode's first step (cut by a time limit), or with the stream
    /// (still running, `ended = false`).
    pub fn episodes(&self) -> Vec<StoredEpisode> {
        let mut out = Vec::new();
        for (index, s) in self.streams.iter().enumerate() {
            let slot = |k: usize| (s.head + k) % s.len.max(1);
            let mut current: Option<StoredEpisode> = None;
            for k in 0..s.len {
                let at = slot(k);
                if s.is_first[at] {
                    out.extend(current.take().map(|mut e| {
                        e.ended = true;
                        e
                    }));
                    current = Some(StoredEpisode {
                        stream: index,
                        ..StoredEpisode::default()
                    });
                }
                let Some(episode) = current.as_mut() else {
                    continue; // its first step is gone
                };
                episode.obs.push(match &s.obs {
                    ObsStore::F32(v) => v[at * self.obs_len..(at + 1) * self.obs_len].to_vec(),
                    ObsStore::U8(v) => v[at * self.obs_len..(at + 1) * self.obs_len]
                        .iter()
                        .map(|&x| x as f32)
                        .collect(),
                });
                episode
                    .actions
                    .push(s.actions[at * self.action_len..(at + 1) * self.action_len].to_vec());
                episode.rewards.push(s.rewards[at]);
                if s.is_terminal[at] {
                    let mut e = current.take().expect("current");
                    (e.terminated, e.ended) = (true, true);
                    out.push(e);
                }
            }
            out.extend(current);
        }
        out
    }

    /// Whether `length`-step windows can be sampled.
    pub fn can_sample(&self, length: usize) -> bool {
        self.streams.iter().any(|s| s.len >= length)
    }

    /// Sample `batch` windows of `length` steps, uniformly over all valid windows.
    pub fn sample(&self, batch: usize, length: usize, noise: &mut Noise) -> SequenceBatch {
        self.sample_with_context(batch, length, 0, noise)
    }

    /// Sample `batch` windows of `context + length` steps, uniformly over
    /// all valid windows, and return their last `length` steps, each
    /// sequence starting from the stored latent of the step before it
    /// (the 2025 design's replay context; see [`LatentStore`]). A sequence
    /// whose previous step has no latent yet starts from the initial
    /// state, marked first. `context = 0` is the 2023 design: every
    /// sequence starts from the initial state.
    ///
    /// # Panics
    /// With `context > 0` on a buffer that keeps no latents
    /// ([`SequenceReplay::keep_latents`]).
    pub fn sample_with_context(
        &self,
        batch: usize,
        length: usize,
        context: usize,
        noise: &mut Noise,
    ) -> SequenceBatch {
        let picks = self.uniform_picks(batch, context + length, noise);
        self.assemble(&picks, length, context)
    }

    /// [`SequenceReplay::sample_with_context`] for an update: with the
    /// online queue ([`SequenceReplay::queue_online`]), the windows that no
    /// update has seen yet come first (oldest first, each once); the rest
    /// of the batch is uniform, or drawn by the selector mixture
    /// ([`SequenceReplay::select_by`]).
    pub fn sample_for_update(
        &mut self,
        batch: usize,
        length: usize,
        context: usize,
        noise: &mut Noise,
    ) -> SequenceBatch {
        let window = context + length;
        let held: Vec<usize> = self.streams.iter().map(|s| s.len).collect();
        let mut picks = match &mut self.online {
            Some(online) if online.window() == window => online.take(batch, &held),
            _ => Vec::new(),
        };
        let rest = batch - picks.len();
        match self.selection.take() {
            Some(mut selection) if !selection.fracs.only_uniform() => {
                let layout: Vec<(usize, usize)> =
                    self.streams.iter().map(|s| (s.head, s.len)).collect();
                for _ in 0..rest {
                    let pick = match selection.choose(noise.uniform() as f64) {
                        Selector::Uniform => self.uniform_picks(1, window, noise)[0],
                        Selector::Priority => selection.draw_priority(
                            &layout,
                            context,
                            length,
                            noise.uniform() as f64,
                        ),
                        Selector::Recency => selection.draw_recency(
                            &layout,
                            window,
                            self.capacity_per_stream,
                            noise.uniform() as f64,
                        ),
                    };
                    picks.push(pick);
                }
                self.selection = Some(selection);
            }
            selection => {
                self.selection = selection;
                picks.extend(self.uniform_picks(rest, window, noise));
            }
        }
        self.assemble(&picks, length, context)
    }

    /// Draw each update's windows (after the online queue's) from the
    /// selector mixture `fracs` (see [`super::selectors`]) instead of
    /// uniformly. Keeps the state of a checkpoint with the same settings;
    /// otherwise every held step starts at `prio.initial`. Uniform
    /// fractions drop the mixture.
    pub fn select_by(&mut self, fracs: ReplayFractions, prio: PriorityConfig, recexp: f64) {
        if fracs.only_uniform() {
            self.selection = None;
            return;
        }
        let streams = self.streams.len();
        if self
            .selection
            .as_ref()
            .is_some_and(|s| s.fits(&fracs, &prio, recexp, streams))
        {
            return;
        }
        let held: Vec<usize> = self.streams.iter().map(|s| s.len).collect();
        self.selection = Some(Selection::new(fracs, prio, recexp, &held));
    }

    /// Whether the priority selector draws any windows (then each update
    /// should report its losses through [`SequenceReplay::prioritize`]).
    pub fn wants_priorities(&self) -> bool {
        self.selection
            .as_ref()
            .is_some_and(|s| s.fracs.priority > 0.0)
    }

    /// The priority of the step at `slot` of `stream` (`None` without the
    /// priority selector's state or beyond what is held).
    pub fn priority(&self, stream: usize, slot: usize) -> Option<f32> {
        self.selection.as_ref()?.priority(stream, slot)
    }

    /// Set the priorities of the steps at `positions` (rows of a sampled
    /// batch) to `values`. Does nothing without the priority selector.
    pub fn prioritize(&mut self, positions: &[(u32, u32)], values: &[f32]) {
        if let Some(selection) = &mut self.selection {
            selection.prioritize(positions, values);
        }
    }

    /// Queue every window of `window` steps that arrives from now on for
    /// one update before uniform sampling (the 2025 design's
    /// `replay.online`); what is held already counts as seen. Keeps a
    /// queue that fits (one restored from a checkpoint).
    pub fn queue_online(&mut self, window: usize) {
        if self
            .online
            .as_ref()
            .is_some_and(|q| q.window() == window && q.covers(self.streams.len()))
        {
            return;
        }
        let held: Vec<usize> = self.streams.iter().map(|s| s.len).collect();
        self.online = Some(OnlineQueue::new(window, &held));
    }

    /// Windows waiting in the online queue (0 without one).
    pub fn online_waiting(&self) -> usize {
        self.online.as_ref().map_or(0, OnlineQueue::len)
    }

    /// `n` windows of `window` steps drawn uniformly over all valid
    /// windows, as `(stream, offset from its oldest held step)`.
    fn uniform_picks(&self, n: usize, window: usize, noise: &mut Noise) -> Vec<(usize, usize)> {
        if n == 0 {
            return Vec::new();
        }
        let starts: Vec<usize> = self
            .streams
            .iter()
            .map(|s| (s.len + 1).saturating_sub(window))
            .collect();
        let total: usize = starts.iter().sum();
        assert!(total > 0, "replay: no stream holds {window} steps yet");
        (0..n)
            .map(|_| {
                let mut pick = noise.below(total);
                let stream = starts
                    .iter()
                    .position(|&n| {
                        if pick < n {
                            true
                        } else {
                            pick -= n;
                            false
                        }
                    })
                    .expect("pick within total");
                (stream, pick)
            })
            .collect()
    }

    /// The batch of the windows `picks` (`(stream, offset)`), each
    /// `context + length` steps, keeping the last `length` (see
    /// [`SequenceReplay::sample_with_context`]).
    fn assemble(&self, picks: &[(usize, usize)], length: usize, context: usize) -> SequenceBatch {
        let latents = (context > 0).then(|| {
            self.latents
                .as_ref()
                .expect("a replay context needs a buffer that keeps latents")
        });
        let batch = picks.len();
        let (obs_len, action_len) = (self.obs_len, self.action_len);
        let rows = length * batch;
        let mut out = SequenceBatch {
            batch,
            length,
            obs: vec![0.0; rows * obs_len],
            actions: vec![0.0; rows * action_len],
            rewards: vec![0.0; rows],
            is_first: vec![0.0; rows],
            is_terminal: vec![0.0; rows],
            positions: vec![(0, 0); rows],
            start: latents.map(|_| StartLatents::default()),
        };
        for (b, &(stream, pick)) in picks.iter().enumerate() {
            let s = &self.streams[stream];
            let slot_at = |t: usize| (s.head + pick + t) % s.len.max(1);
            // Without a stored start, the sequence starts afresh.
            let mut warm = false;
            if let (Some(latents), Some(start)) = (latents, out.start.as_mut()) {
                latents.push_start(stream, slot_at(context - 1), start);
                warm = *start.known.last().expect("pushed");
            }
            for t in 0..length {
                let slot = slot_at(context + t);
                let row = t * batch + b;
                match &s.obs {
                    ObsStore::F32(v) => out.obs[row * obs_len..(row + 1) * obs_len]
                        .copy_from_slice(&v[slot * obs_len..(slot + 1) * obs_len]),
                    ObsStore::U8(v) => {
                        for (d, &x) in out.obs[row * obs_len..(row + 1) * obs_len]
                            .iter_mut()
                            .zip(&v[slot * obs_len..(slot + 1) * obs_len])
                        {
                            *d = x as f32;
                        }
                    }
                }
                out.actions[row * action_len..(row + 1) * action_len]
                    .copy_from_slice(&s.actions[slot * action_len..(slot + 1) * action_len]);
                out.rewards[row] = s.rewards[slot];
                let first = (t == 0 && !warm) || s.is_first[slot];
                out.is_first[row] = if first { 1.0 } else { 0.0 };
                out.is_terminal[row] = if s.is_terminal[slot] { 1.0 } else { 0.0 };
                out.positions[row] = (stream as u32, slot as u32);
            }
        }
        out
    }

    /// Keep a latent state beside every step (for
    /// [`SequenceReplay::sample_with_context`]) of an RSSM with `deter`
    /// units and `groups` categoricals of `classes` classes. The steps
    /// already kept have none until an update replays them. A store of
    /// other shapes (a checkpoint of another model) is replaced.
    pub fn keep_latents(&mut self, deter: usize, groups: usize, classes: usize) {
        if self
            .latents
            .as_ref()
            .is_some_and(|l| l.fits(deter, groups, classes))
        {
            return;
        }
        let mut store = LatentStore::new(self.streams.len(), deter, groups, classes);
        for (i, s) in self.streams.iter().enumerate() {
            for slot in 0..s.len {
                store.forget(i, slot);
            }
        }
        self.latents = Some(store);
    }

    /// Store the latents an update computed at `positions` (rows of a
    /// sampled batch): `deter` `[rows * deter]`, `stoch` one-hots
    /// `[rows * groups * classes]`. Does nothing on a buffer that keeps no
    /// latents.
    pub fn store_latents(&mut self, positions: &[(u32, u32)], deter: &[f32], stoch: &[f32]) {
        let Some(latents) = &mut self.latents else {
            return;
        };
        let rows = positions.len().max(1);
        let (d, z) = (deter.len() / rows, stoch.len() / rows);
        for (row, &(stream, slot)) in positions.iter().enumerate() {
            latents.store(
                stream as usize,
                slot as usize,
                &deter[row * d..(row + 1) * d],
                &stoch[row * z..(row + 1) * z],
            );
        }
    }
}

#[cfg(test)]
#[path = "sequence_tests.rs"]
mod tests;
