//! An actor thread apart from the learner (`run.async_actors`).
//!
//! The actor owns the training-collection environments and a snapshot of
//! the agent's exploring policy ([`ActingPolicy`]): it chooses actions,
//! steps the environments and sends the resulting replay records to the
//! learner, over and over, while the learner trains. After each round of
//! updates the learner publishes a fresh snapshot, which the actor takes
//! over before its next step (keeping its environments' latent states), so
//! it acts with weights at most one round old. On a GPU the device then
//! never waits for environments or for acting.
//!
//! The channel holds one batch of steps: the actor runs at most one step
//! ahead of what the learner has consumed, so the learner's `train_ratio`
//! (updates per environment step) holds as in the synchronous loop. What
//! is lost is determinism: which weights an action was chosen with depends
//! on thread timing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::ActingPolicy;
use super::collect::{Collector, Episode, Recorded};
use crate::core::Noise;
use crate::{Error, Result};

/// What the actor sends after each step of its environments.
pub struct ActorBatch {
    /// Replay records in order (a finished episode's last step before the
    /// next one's first).
    pub records: Vec<Recorded>,
    /// Episodes finished in this step.
    pub finished: Vec<Episode>,
    /// Environment steps taken (0 for the first batch, the initial observations).
    pub steps: u64,
}

type Latest = Arc<Mutex<Option<Box<dyn ActingPolicy>>>>;

/// A running actor thread; dropping it stops the thread.
pub struct ActorThread {
    batches: Option<Receiver<Result<ActorBatch>>>,
    latest: Latest,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl ActorThread {
    /// Start acting in `collector`'s environments with `policy`. The first
    /// `prefill - env_steps` steps take random actions, as in the
    /// synchronous loop.
    pub fn spawn(
        mut collector: Collector,
        mut policy: Box<dyn ActingPolicy>,
        mut noise: Noise,
        env_steps: u64,
        prefill: u64,
    ) -> Self {
        let (sender, batches) = sync_channel(1);
        let latest: Latest = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_latest, thread_stop) = (latest.clone(), stop.clone());
        let handle = std::thread::Builder::new()
            .name("somnium-actor".into())
            .spawn(move || {
                let first = ActorBatch {
                    records: collector.current(),
                    finished: Vec::new(),
                    steps: 0,
                };
                let mut steps = env_steps;
                let mut next = Ok(first);
                loop {
                    // Stop after an error, when asked, or when the learner is gone.
                    let failed = next.is_err();
                    if sender.send(next).is_err() || failed || thread_stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Some(newer) = thread_latest.lock().expect("snapshot lock").take() {
                        policy.refresh(newer);
                    }
                    let actions = if steps < prefill {
                        collector.random_actions(&mut noise)
                    } else {
                        let (obs, first) = (collector.obs.clone(), collector.is_first.clone());
                        policy.act(&obs, &first)
                    };
                    next = collector
                        .step_envs(&actions)
                        .and_then(|s| collector.absorb_records(&actions, s, &mut noise))
                        .map(|(finished, records)| ActorBatch {
                            records,
                            finished,
                            steps: actions.len() as u64,
                        });
                    steps += actions.len() as u64;
                }
            })
            .expect("spawning the actor thread");
        ActorThread {
            batches: Some(batches),
            latest,
            stop,
            handle: Some(handle),
        }
    }

    /// The next batch of steps, waiting for it; an environment's error is
    /// passed on.
    pub fn next(&self) -> Result<ActorBatch> {
        self.batches
            .as_ref()
            .expect("receiver lives until drop")
            .recv()
            .map_err(|_| Error::ActorStopped)?
    }

    /// Hand the actor a newer policy; it takes it over before its next step
    /// (a snapshot not yet taken is replaced).
    pub fn publish(&self, policy: Box<dyn ActingPolicy>) {
        *self.latest.lock().expect("snapshot lock") = Some(policy);
    }
}

impl Drop for ActorThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver unblocks an actor waiting to send.
        self.batches = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
