//! Stored latent states: the 2025 DreamerV3 design's replay context.
//!
//! In the 2023 design every replayed sequence starts from the RSSM's
//! initial (zero) state, so its first steps are filtered without the
//! history before them. The 2025 code keeps, beside each replayed step,
//! the latent state the model last computed there, and starts a sequence
//! from the stored state of the step before it (`replay_context`): the
//! world model trains on steps seen with their past, and imagination
//! starts from states that know it.
//!
//! Each step keeps its deterministic state `h` (`deter` floats) and its
//! stochastic state `z` as one class index per categorical (the sample is
//! one-hot, so nothing is lost). The store is refreshed after every
//! world-model update with the posteriors of the steps it replayed. A step
//! no update has replayed yet has no latent; a sequence after it starts
//! from the initial state as in the 2023 design. (The reference also
//! stores the latents the acting policy computes, which covers the newest
//! steps; with uniform replay at train ratio R each step is replayed about
//! R times while it is kept, so all but the newest few have one.)

use serde::{Deserialize, Serialize};

/// One stream's latents, slot for slot beside its steps.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StreamLatents {
    /// `h` of each slot `[slots * deter]`.
    deter: Vec<f32>,
    /// The class index of each categorical of `z` `[slots * groups]`.
    #[serde(with = "serde_bytes")]
    classes: Vec<u8>,
    /// Whether the slot has a latent yet.
    known: Vec<bool>,
}

/// Latent states of every stream's slots.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatentStore {
    deter: usize,
    groups: usize,
    classes: usize,
    streams: Vec<StreamLatents>,
}

/// The stored latents that start a batch's sequences.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StartLatents {
    /// `h` per sequence `[B * deter]` (zeros where unknown).
    pub deter: Vec<f32>,
    /// `z` per sequence as flattened one-hots `[B * groups * classes]`.
    pub stoch: Vec<f32>,
    /// Whether each sequence has a stored start (otherwise it starts from
    /// the initial state, marked first).
    pub known: Vec<bool>,
}

impl StartLatents {
    /// The starts of sequences `first..first + n`.
    pub fn columns(&self, first: usize, n: usize) -> StartLatents {
        let b = self.known.len();
        let (d, s) = (self.deter.len() / b.max(1), self.stoch.len() / b.max(1));
        StartLatents {
            deter: self.deter[first * d..(first + n) * d].to_vec(),
            stoch: self.stoch[first * s..(first + n) * s].to_vec(),
            known: self.known[first..first + n].to_vec(),
        }
    }
}

impl LatentStore {
    /// An empty store for `streams` streams of an RSSM with `deter` units
    /// and `groups` categoricals of `classes` classes (at most 256).
    pub fn new(streams: usize, deter: usize, groups: usize, classes: usize) -> Self {
        assert!(
            classes <= 256,
            "stored latents keep class indices in a byte"
        );
        LatentStore {
            deter,
            groups,
            classes,
            streams: vec![StreamLatents::default(); streams],
        }
    }

    /// Whether the store was made for this RSSM's shapes.
    pub fn fits(&self, deter: usize, groups: usize, classes: usize) -> bool {
        (self.deter, self.groups, self.classes) == (deter, groups, classes)
    }

    /// Mark `slot` of `stream` as holding a new step with no latent yet
    /// (`slot` is the stream's length when it grows by one).
    pub fn forget(&mut self, stream: usize, slot: usize) {
        let (deter, groups) = (self.deter, self.groups);
        let s = &mut self.streams[stream];
        if slot == s.known.len() {
            s.deter.resize((slot + 1) * deter, 0.0);
            s.classes.resize((slot + 1) * groups, 0);
            s.known.push(false);
        } else {
            s.known[slot] = false;
        }
    }

    /// Store the latent of `(stream, slot)`: `h` `[deter]` and `z` as
    /// one-hots `[groups * classes]` (the largest entry of each group is
    /// its class).
    pub fn store(&mut self, stream: usize, slot: usize, deter: &[f32], stoch: &[f32]) {
        let (d, g, k) = (self.deter, self.groups, self.classes);
        let s = &mut self.streams[stream];
        s.deter[slot * d..(slot + 1) * d].copy_from_slice(deter);
        for (group, one_hot) in stoch.chunks_exact(k).enumerate().take(g) {
            let class = one_hot
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                    if v > best.1 { (i, v) } else { best }
                })
                .0;
            s.classes[slot * g + group] = class as u8;
        }
        s.known[slot] = true;
    }

    /// Append the latent of `(stream, slot)` to `start` (zeros and unknown
    /// if it has none).
    pub fn push_start(&self, stream: usize, slot: usize, start: &mut StartLatents) {
        let (d, g, k) = (self.deter, self.groups, self.classes);
        let s = &self.streams[stream];
        let known = s.known[slot];
        start.known.push(known);
        if known {
            start
                .deter
                .extend_from_slice(&s.deter[slot * d..(slot + 1) * d]);
        } else {
            start.deter.extend(std::iter::repeat_n(0.0, d));
        }
        for group in 0..g {
            let class = s.classes[slot * g + group] as usize;
            start
                .stoch
                .extend((0..k).map(|i| if known && i == class { 1.0 } else { 0.0 }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_latent_comes_back_as_its_one_hots_and_a_new_step_forgets_it() {
        let mut store = LatentStore::new(1, 2, 2, 3);
        store.forget(0, 0);
        store.forget(0, 1);
        // z: group 0 is class 2, group 1 class 0.
        store.store(0, 1, &[0.5, -1.5], &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        let mut start = StartLatents::default();
        store.push_start(0, 1, &mut start);
        store.push_start(0, 0, &mut start);
        assert_eq!(start.known, vec![true, false]);
        assert_eq!(start.deter, vec![0.5, -1.5, 0.0, 0.0]);
        assert_eq!(
            start.stoch,
            vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
        assert_eq!(start.columns(1, 1).deter, vec![0.0, 0.0]);
        assert_eq!(
            start.columns(0, 1).stoch,
            vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
        );

        // The ring buffer overwrites slot 1 with a new step.
        store.forget(0, 1);
        let mut again = StartLatents::default();
        store.push_start(0, 1, &mut again);
        assert_eq!(again.known, vec![false]);
        assert!(again.stoch.iter().all(|&x| x == 0.0));
        assert!(store.fits(2, 2, 3) && !store.fits(2, 2, 4));
    }
}
