//! DreamerV3's (2025) online replay queue (`replay.online`).
//!
//! With uniform replay alone, a step collected late in a run is replayed
//! less often than an early one, and may wait long before its first
//! update. The 2025 reference (`embodied/core/replay.py`, `online=True`)
//! therefore queues every stream's data in consecutive, non-overlapping
//! windows as they complete; a training batch takes queued windows first
//! (oldest first, each once) and fills the rest uniformly. Every collected
//! step is thus trained on at least once, soon after it arrives.
//!
//! The queue keeps absolute step counts per stream, so it needs no slots of
//! the ring buffer: a queued window that the buffer has dropped by the time
//! it is drawn is skipped, as the reference skips windows whose chunks are
//! gone.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Windows of new data waiting for their first update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnlineQueue {
    /// Steps per window (the replay context plus the sequence length).
    window: usize,
    /// Steps ever added to each stream.
    added: Vec<u64>,
    /// Each stream's first step not yet in a queued window.
    next_start: Vec<u64>,
    /// Complete windows `(stream, first step)`, oldest first.
    pending: VecDeque<(usize, u64)>,
}

impl OnlineQueue {
    /// A queue of `window`-step windows over streams holding `held` steps
    /// each; what they hold already counts as seen (it is not queued).
    pub fn new(window: usize, held: &[usize]) -> Self {
        let added: Vec<u64> = held.iter().map(|&n| n as u64).collect();
        OnlineQueue {
            window: window.max(1),
            next_start: added.clone(),
            added,
            pending: VecDeque::new(),
        }
    }

    /// Steps per window.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Whether the queue describes `streams` streams.
    pub fn covers(&self, streams: usize) -> bool {
        self.added.len() == streams
    }

    /// Windows waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no window is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Count one step added to `stream`; queue its window once complete.
    pub fn record(&mut self, stream: usize) {
        self.added[stream] += 1;
        let window = self.window as u64;
        if self.added[stream] - self.next_start[stream] >= window {
            self.pending.push_back((stream, self.next_start[stream]));
            self.next_start[stream] += window;
        }
    }

    /// Take up to `n` waiting windows, oldest first, as `(stream, offset)`
    /// where `offset` counts from the oldest step the stream still holds
    /// (`held[stream]` steps); windows the buffer has dropped are skipped.
    pub fn take(&mut self, n: usize, held: &[usize]) -> Vec<(usize, usize)> {
        let mut taken = Vec::with_capacity(n.min(self.pending.len()));
        while taken.len() < n {
            let Some((stream, start)) = self.pending.pop_front() else {
                break;
            };
            let oldest = self.added[stream] - held[stream] as u64;
            if start >= oldest {
                taken.push((stream, (start - oldest) as usize));
            }
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_windows_queue_in_order_and_are_taken_once() {
        let mut queue = OnlineQueue::new(3, &[0, 0]);
        for _ in 0..7 {
            queue.record(0);
        }
        for _ in 0..3 {
            queue.record(1);
        }
        // Stream 0: windows at 0 and 3 (step 6 waits for two more);
        // stream 1: its window at 0 completed last.
        assert_eq!(queue.len(), 3);
        let held = [7, 3];
        assert_eq!(queue.take(2, &held), vec![(0, 0), (0, 3)]);
        assert_eq!(queue.take(5, &held), vec![(1, 0)]);
        assert!(queue.take(5, &held).is_empty(), "each window once");
    }

    #[test]
    fn offsets_follow_the_ring_buffer_and_dropped_windows_are_skipped() {
        // Stream 0 already held 4 steps: they are not queued.
        let mut queue = OnlineQueue::new(2, &[4]);
        for _ in 0..6 {
            queue.record(0); // steps 4..=9: windows at 4, 6, 8
        }
        // A buffer of 5 steps holds 5..=9: the window at 4 is gone, the one
        // at 6 starts at offset 1 from the oldest held step.
        assert_eq!(queue.take(3, &[5]), vec![(0, 1), (0, 3)]);
    }
}
