//! Tests of [`SequenceReplay`]: windows, the ring buffer, streams, disk,
//! latents and the online queue.

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
    let none: Option<SequenceReplay> = load_replay(tempfile::tempdir().unwrap().path()).unwrap();
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

/// With the online queue, each update's batch starts with the windows no
/// update has seen (oldest first, each once), and fills the rest
/// uniformly; a checkpoint keeps what is still waiting.
#[test]
fn online_windows_come_first_once_each_and_survive_a_checkpoint() {
    let mut plain = SequenceReplay::new(100, 1, ObsKind::Vector { width: 1 }, 2);
    for i in 0..14 {
        add(&mut plain, 0, i as f32, i == 0);
        if i == 4 {
            // What is held before the queue starts counts as seen.
            plain.queue_online(3);
        }
    }
    assert_eq!(plain.online_waiting(), 3, "windows at 5, 8 and 11");
    let mut noise = Noise::new(0);
    let batch = plain.sample_for_update(2, 3, 0, &mut noise);
    assert_eq!(&batch.obs[..2], &[5.0, 8.0], "the two oldest new windows");
    assert_eq!(&batch.obs[4..6], &[7.0, 10.0], "whole windows");

    let dir = tempfile::tempdir().unwrap();
    save_replay(&plain, dir.path()).unwrap();
    let mut loaded: SequenceReplay = load_replay(dir.path()).unwrap().unwrap();
    loaded.queue_online(3);
    assert_eq!(loaded.online_waiting(), 1, "the window at 11 still waits");
    let batch = loaded.sample_for_update(3, 3, 0, &mut noise);
    assert_eq!(batch.obs[0], 11.0);
    assert_eq!(loaded.online_waiting(), 0);
    let again = loaded.sample_for_update(3, 3, 0, &mut noise);
    assert!(
        again.obs[..3].iter().all(|&o| o <= 11.0),
        "uniform once drained"
    );
}

#[test]
fn episodes_come_whole_with_how_they_ended() {
    // Stream of capacity 10: a first episode, then A (3 steps, terminal),
    // B (2 steps, cut: the next step is first), C (running). After 12
    // steps the ring holds the last 10, so the first episode has lost its
    // start and is skipped.
    let mut replay = SequenceReplay::new(10, 1, ObsKind::Vector { width: 1 }, 2);
    let mut put = |obs: f32, first: bool, terminal: bool| {
        replay.add(
            0,
            &Transition {
                obs: &[obs],
                action: &[obs, 0.0],
                reward: 1.0,
                is_first: first,
                is_terminal: terminal,
            },
        );
    };
    for i in 0..4 {
        put(i as f32, i == 0, false); // the lost episode
    }
    put(10.0, true, false);
    put(11.0, false, false);
    put(12.0, false, true); // A
    put(20.0, true, false);
    put(21.0, false, false); // B, cut
    put(30.0, true, false);
    put(31.0, false, false);
    put(32.0, false, false); // C, running
    let episodes = replay.episodes();
    let firsts: Vec<f32> = episodes.iter().map(|e| e.obs[0][0]).collect();
    assert_eq!(firsts, vec![10.0, 20.0, 30.0]);
    let ends: Vec<(bool, bool)> = episodes.iter().map(|e| (e.terminated, e.ended)).collect();
    assert_eq!(ends, vec![(true, true), (false, true), (false, false)]);
    assert_eq!(episodes[0].obs.len(), 3);
    assert_eq!(episodes[0].actions[2], vec![12.0, 0.0]);
    assert_eq!(episodes[1].rewards, vec![1.0, 1.0]);
}
