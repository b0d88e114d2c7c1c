//! Sequence replay with per-environment ring buffers.

use serde::{Deserialize, Serialize};

use super::latents::{LatentStore, StartLatents};
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
        self.added += 1;
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
        let latents = (context > 0).then(|| {
            self.latents
                .as_ref()
                .expect("a replay context needs a buffer that keeps latents")
        });
        let window = context + length;
        let starts: Vec<usize> = self
            .streams
            .iter()
            .map(|s| (s.len + 1).saturating_sub(window))
            .collect();
        let total: usize = starts.iter().sum();
        assert!(total > 0, "replay: no stream holds {window} steps yet");
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
        for b in 0..batch {
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
mod tests {
    use super::*;
    use crate::train::checkpoint::{load_replay, save_json, save_replay};

    fn step(obs: f32, first: bool) -> ([f32; 1], [f32; 2], bool) {
        ([obs], [obs, -obs], first)
    }

    fn add(replay: &mut SequenceReplay, stream: usize, obs: f32, first: bool) {
        let (o, a, f) = step(obs, first);
        replay.add(
            stream,
            &Transition {
                obs: &o,
                action: &a,
                reward: obs * 10.0,
                is_first: f,
                is_terminal: false,
            },
        );
    }

    #[test]
    fn windows_are_contiguous_and_time_major() {
        let mut replay = SequenceReplay::new(100, 1, ObsKind::Vector { width: 1 }, 2);
        for i in 0..10 {
            add(&mut replay, 0, i as f32, i == 0 || i == 5);
        }
        let batch = replay.sample(3, 4, &mut Noise::new(0));
        for b in 0..3 {
            let first = batch.obs[b];
            for t in 0..4 {
                let row = t * 3 + b;
                assert_eq!(batch.obs[row], first + t as f32, "contiguous");
                assert_eq!(batch.rewards[row], batch.obs[row] * 10.0);
                assert_eq!(batch.actions[row * 2 + 1], -batch.obs[row]);
                let stored_first = batch.obs[row] == 0.0 || batch.obs[row] == 5.0;
                assert_eq!(
                    batch.is_first[row] == 1.0,
                    t == 0 || stored_first,
                    "episode starts kept inside windows"
                );
            }
        }
    }

    #[test]
    fn ring_buffer_drops_the_oldest_and_windows_never_wrap_across_the_seam() {
        let mut replay = SequenceReplay::new(5, 1, ObsKind::Vector { width: 1 }, 2);
        for i in 0..12 {
            add(&mut replay, 0, i as f32, false);
        }
        assert_eq!(replay.len(), 5);
        let mut noise = Noise::new(3);
        for _ in 0..50 {
            let batch = replay.sample(1, 3, &mut noise);
            assert!(
                batch.obs[0] >= 7.0,
                "only the newest five (7..=11) remain: {:?}",
                batch.obs
            );
            assert_eq!(
                batch.obs[2] - batch.obs[0],
                2.0,
                "no window wraps from newest to oldest"
            );
        }
    }

    #[test]
    fn samples_every_stream_and_round_trips_through_disk() {
        let mut replay = SequenceReplay::new(
            100,
            2,
            ObsKind::Image {
                shape: [1, 1, 1],
                pixels: true,
            },
            2,
        );
        for i in 0..6 {
            add(&mut replay, 0, i as f32, i == 0);
            add(&mut replay, 1, 100.0 + i as f32, i == 0);
        }
        let batch = replay.sample(64, 2, &mut Noise::new(1));
        let from_second = batch.obs.iter().filter(|&&o| o >= 100.0).count();
        assert!(from_second > 20 && from_second < 108, "{from_second}");
        let dir = tempfile::tempdir().unwrap();
        save_replay(&replay, dir.path()).unwrap();
        let loaded: SequenceReplay = load_replay(dir.path()).unwrap().unwrap();
        let a = replay.sample(4, 3, &mut Noise::new(9));
        let b = loaded.sample(4, 3, &mut Noise::new(9));
        assert_eq!(a.obs, b.obs);
        assert_eq!(loaded.added, 12);
        assert!(dir.path().join("replay.msgpack").exists());

        // Checkpoints from before MessagePack kept the replay as JSON.
        let old = tempfile::tempdir().unwrap();
        save_json(&replay, &old.path().join("replay.json")).unwrap();
        let from_json: SequenceReplay = load_replay(old.path()).unwrap().unwrap();
        let c = from_json.sample(4, 3, &mut Noise::new(9));
        assert_eq!(a.obs, c.obs);
        let none: Option<SequenceReplay> =
            load_replay(tempfile::tempdir().unwrap().path()).unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn split_keeps_each_sequence_whole_and_in_order() {
        // B = 3 sequences of T = 2 steps, time-major rows t * B + b, obs width 2.
        let batch = SequenceBatch {
            batch: 3,
            length: 2,
            obs: (0..12).map(|x| x as f32).collect(),
            actions: (0..6).map(|x| x as f32).collect(),
            rewards: vec![0.0, 1.0, 2.0, 10.0, 11.0, 12.0],
            is_first: vec![1.0; 6],
            is_terminal: vec![0.0; 6],
            positions: (0..6).map(|row| (0, row)).collect(),
            start: Some(StartLatents {
                deter: vec![0.0, 1.0, 2.0],
                stoch: vec![0.0; 3],
                known: vec![true, false, true],
            }),
        };
        let parts = batch.split(2);
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].batch, parts[1].batch), (2, 1));
        // Sequences 0 and 1: rows (t0 b0, t0 b1, t1 b0, t1 b1).
        assert_eq!(parts[0].rewards, vec![0.0, 1.0, 10.0, 11.0]);
        assert_eq!(parts[0].obs, vec![0.0, 1.0, 2.0, 3.0, 6.0, 7.0, 8.0, 9.0]);
        assert_eq!(parts[1].rewards, vec![2.0, 12.0]);
        assert_eq!(parts[1].obs, vec![4.0, 5.0, 10.0, 11.0]);
        assert_eq!(parts[1].actions, vec![2.0, 5.0]);
        assert_eq!(parts[0].positions, vec![(0, 0), (0, 1), (0, 3), (0, 4)]);
        let starts = |i: usize| parts[i].start.as_ref().unwrap();
        assert_eq!(
            (starts(0).deter.clone(), starts(0).known.clone()),
            (vec![0.0, 1.0], vec![true, false])
        );
        assert_eq!(starts(1).deter, vec![2.0]);
    }

    #[test]
    fn a_replay_context_starts_each_sequence_from_the_latent_stored_before_it() {
        let mut replay = SequenceReplay::new(100, 1, ObsKind::Vector { width: 1 }, 2);
        for i in 0..10 {
            add(&mut replay, 0, i as f32, i == 0 || i == 6);
        }
        replay.keep_latents(1, 1, 2);
        // The latent of each step: h = 100 + the step's observation, z = class 1.
        let every: Vec<(u32, u32)> = (0..10).map(|slot| (0, slot)).collect();
        let deter: Vec<f32> = (0..10).map(|i| 100.0 + i as f32).collect();
        let stoch: Vec<f32> = (0..10).flat_map(|_| [0.0, 1.0]).collect();
        // Steps 0..=4 have latents; 5..=9 were never replayed.
        replay.store_latents(&every[..5], &deter[..5], &stoch[..10]);

        let mut noise = Noise::new(4);
        for _ in 0..20 {
            let batch = replay.sample_with_context(4, 3, 1, &mut noise);
            let start = batch.start.as_ref().unwrap();
            for b in 0..4 {
                let first_obs = batch.obs[b];
                assert!(first_obs >= 1.0, "step 0 is only ever context");
                let before = first_obs - 1.0;
                let known = before < 5.0;
                assert_eq!(start.known[b], known);
                let (h, z) = (start.deter[b], &start.stoch[2 * b..2 * b + 2]);
                if known {
                    assert_eq!((h, z), (100.0 + before, &[0.0, 1.0][..]));
                } else {
                    assert_eq!((h, z), (0.0, &[0.0, 0.0][..]));
                }
                // Marked first where the stored episode starts, or where
                // no latent starts the sequence.
                assert_eq!(batch.is_first[b] == 1.0, !known || first_obs == 6.0);
                assert_eq!(batch.positions[b], (0, first_obs as u32));
            }
        }

        // A new step in a reused slot forgets the slot's latent.
        let mut small = SequenceReplay::new(3, 1, ObsKind::Vector { width: 1 }, 2);
        small.keep_latents(1, 1, 2);
        for i in 0..3 {
            add(&mut small, 0, i as f32, false);
        }
        small.store_latents(
            &[(0, 0), (0, 1), (0, 2)],
            &[5.0, 6.0, 7.0],
            &[1.0, 0.0, 1.0, 0.0, 1.0, 0.0],
        );
        add(&mut small, 0, 3.0, false); // overwrites slot 0 (step 0)
        let batch = small.sample_with_context(8, 2, 1, &mut Noise::new(0));
        // Windows of 3 in [1, 2, 3]: the context is step 1, whose slot is intact.
        let start = batch.start.unwrap();
        assert!(start.known.iter().all(|&k| k));
        assert!(start.deter.iter().all(|&h| h == 6.0));
        let dir = tempfile::tempdir().unwrap();
        save_replay(&small, dir.path()).unwrap();
        let loaded: SequenceReplay = load_replay(dir.path()).unwrap().unwrap();
        let again = loaded.sample_with_context(8, 2, 1, &mut Noise::new(0));
        assert_eq!(again.start.unwrap().deter, start.deter, "latents are saved");
    }
}
