//! The batch of trees split over threads, the model still called once per
//! simulation.
//!
//! Walking a tree is branchy scalar work that no accelerator helps with, and
//! the trees of a batch are independent, so [`ParallelSearch`] gives each
//! thread a contiguous shard of the batch with a [`Search`] of its own. Per
//! simulation, every shard walks its trees to their leaves in parallel, the
//! calling thread gathers the leaves and makes the one batched model call
//! (the model never leaves the calling thread, so it need not be `Send`),
//! and the shards back the results up in parallel. Threads live for one
//! whole search and exchange only the leaves and the evaluation through
//! channels.
//!
//! With `threads = 1` this is exactly [`Search`]. With more, each shard
//! draws its noise from its own stream, seeded from the caller's, so results
//! are deterministic for a given seed and thread count, but differ in their
//! random draws from a single-threaded search.

use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};

use super::search::{Evaluation, Leaves, Roots, Search, SearchConfig, SearchModel, SearchOutput};
use crate::core::Noise;

/// A batched search over `search.threads` threads.
#[derive(Debug, Clone)]
pub struct ParallelSearch {
    config: SearchConfig,
    shards: Vec<Search>,
}

impl ParallelSearch {
    /// A search with these hyperparameters, over `config.threads` threads.
    pub fn new(config: SearchConfig) -> Self {
        let shards = (0..config.threads.max(1))
            .map(|_| Search::new(config.clone()))
            .collect();
        ParallelSearch { config, shards }
    }

    /// The hyperparameters.
    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    /// The per-thread searches; with one thread, `shards()[0].tree()` is the
    /// whole batch's tree.
    pub fn shards(&self) -> &[Search] {
        &self.shards
    }

    /// Search from `roots` with `model`, as [`Search::run`].
    pub fn run<M: SearchModel + ?Sized>(
        &mut self,
        roots: &Roots,
        model: &mut M,
        temperature: f32,
        noise: &mut Noise,
    ) -> SearchOutput {
        let batch = roots.value.len();
        let threads = self.shards.len().min(batch);
        if threads <= 1 {
            return self.shards[0].run(roots, model, temperature, noise);
        }
        let ranges = split(batch, threads);
        let noises: Vec<Noise> = ranges
            .iter()
            .map(|_| Noise::new(noise.next_u64()))
            .collect();
        let simulations = self.config.simulations;
        std::thread::scope(|scope| {
            let mut shards = self.shards[..threads].iter_mut().zip(noises).zip(&ranges);
            let ((main_shard, mut main_noise), main_range) = shards.next().expect("two shards");
            let mut workers = Vec::new();
            for ((shard, noise), range) in shards {
                let (to_worker, from_main) = channel();
                let (to_main, from_worker) = channel();
                let shard_roots = rows(roots, range.clone());
                let job = Job {
                    offset: range.start,
                    simulations,
                    temperature,
                };
                scope.spawn(move || job.run(shard, &shard_roots, noise, from_main, to_main));
                workers.push((to_worker, from_worker));
            }

            let main_roots = rows(roots, main_range.clone());
            let root_logits = main_shard.begin(&main_roots, &mut main_noise);
            let mut own = Leaves::new(main_range.len());
            let mut all = Leaves::new(batch);
            for sim in 0..simulations {
                main_shard.select_leaves(sim, &mut main_noise, &mut own);
                place(&mut all, &own, 0);
                for ((_, from_worker), range) in workers.iter().zip(&ranges[1..]) {
                    match receive(from_worker) {
                        Ok(Reply::Leaves(leaves)) => place(&mut all, &leaves, range.start),
                        _ => panic!("a search thread stopped early"),
                    }
                }
                let eval = Arc::new(model.recurrent(&all.parents, &all.actions, &all.children));
                for (to_worker, _) in &workers {
                    to_worker
                        .send(Arc::clone(&eval))
                        .expect("search thread alive");
                }
                main_shard.expand_leaves(&own, &eval, 0);
            }
            let mut out = main_shard.finish(&root_logits, temperature, &mut main_noise);
            for (_, from_worker) in &workers {
                match from_worker.recv() {
                    Ok(Reply::Done(part)) => append(&mut out, part),
                    _ => panic!("a search thread stopped early"),
                }
            }
            out
        })
    }
}

/// What a worker thread does with its shard.
struct Job {
    offset: usize,
    simulations: usize,
    temperature: f32,
}

enum Reply {
    Leaves(Leaves),
    Done(SearchOutput),
}

impl Job {
    fn run(
        self,
        shard: &mut Search,
        roots: &Roots,
        mut noise: Noise,
        evaluations: Receiver<Arc<Evaluation>>,
        replies: Sender<Reply>,
    ) {
        let root_logits = shard.begin(roots, &mut noise);
        let mut leaves = Leaves::new(roots.value.len());
        for sim in 0..self.simulations {
            shard.select_leaves(sim, &mut noise, &mut leaves);
            if replies.send(Reply::Leaves(leaves.clone())).is_err() {
                return;
            }
            let Ok(eval) = receive(&evaluations) else {
                return; // the calling thread gave up (its model panicked)
            };
            shard.expand_leaves(&leaves, &eval, self.offset);
        }
        let out = shard.finish(&root_logits, self.temperature, &mut noise);
        let _ = replies.send(Reply::Done(out));
    }
}

/// Receive from `channel`, spinning briefly before blocking: a simulation's
/// phases take tens of microseconds, about what waking a blocked thread
/// costs, so a short spin keeps both cores busy instead of waiting.
fn receive<T>(channel: &Receiver<T>) -> Result<T, std::sync::mpsc::RecvError> {
    for _ in 0..SPINS {
        match channel.try_recv() {
            Ok(value) => return Ok(value),
            Err(TryRecvError::Empty) => std::hint::spin_loop(),
            Err(TryRecvError::Disconnected) => return Err(std::sync::mpsc::RecvError),
        }
    }
    channel.recv()
}

/// Polls before [`receive`] blocks (a few tens of microseconds).
const SPINS: usize = 20_000;

/// `batch` rows in `parts` contiguous ranges whose sizes differ by at most one.
fn split(batch: usize, parts: usize) -> Vec<Range<usize>> {
    let (size, extra) = (batch / parts, batch % parts);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let end = start + size + usize::from(i < extra);
            let range = start..end;
            start = end;
            range
        })
        .collect()
}

/// Rows `range` of a batch of roots.
fn rows(roots: &Roots, range: Range<usize>) -> Roots {
    let actions = roots.logits.len() / roots.value.len().max(1);
    Roots {
        logits: per_action(&roots.logits, &range, actions),
        value: roots.value[range.clone()].to_vec(),
        invalid: per_action(&roots.invalid, &range, actions),
        gumbel: per_action(&roots.gumbel, &range, actions),
    }
}

/// Rows `range` of a `[B * A]` array; an empty array (an absent option) stays empty.
fn per_action<T: Clone>(values: &[T], range: &Range<usize>, actions: usize) -> Vec<T> {
    if values.is_empty() {
        Vec::new()
    } else {
        values[range.start * actions..range.end * actions].to_vec()
    }
}

fn place(all: &mut Leaves, part: &Leaves, offset: usize) {
    let n = part.parents.len();
    all.parents[offset..offset + n].copy_from_slice(&part.parents);
    all.actions[offset..offset + n].copy_from_slice(&part.actions);
    all.children[offset..offset + n].copy_from_slice(&part.children);
}

fn append(out: &mut SearchOutput, part: SearchOutput) {
    out.actions.extend(part.actions);
    out.policy.extend(part.policy);
    out.value.extend(part.value);
    out.visits.extend(part.visits);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planners::{NodeId, SearchKind};

    /// A deterministic model over integer states, as in the mctx test.
    struct Toy {
        nodes: usize,
        actions: usize,
        states: Vec<i64>,
    }

    impl SearchModel for Toy {
        fn recurrent(
            &mut self,
            parents: &[NodeId],
            actions: &[usize],
            children: &[NodeId],
        ) -> Evaluation {
            let mut eval = Evaluation::default();
            for b in 0..parents.len() {
                let s = self.states[b * self.nodes + parents[b].index()];
                let next = (s * 31 + actions[b] as i64 * 7 + 3) % 1009;
                self.states[b * self.nodes + children[b].index()] = next;
                eval.logits
                    .extend((0..self.actions as i64).map(|a| ((next + a * 3) % 5) as f32 / 2.0));
                eval.value.push(((next * 5) % 17) as f32 / 17.0 - 0.3);
                eval.reward
                    .push(((s * 7 + actions[b] as i64 * 13) % 11) as f32 / 10.0 - 0.5);
                eval.discount.push(0.9);
            }
            eval
        }
    }

    fn search(threads: usize, batch: usize) -> SearchOutput {
        let (actions, simulations) = (4, 20);
        let nodes = simulations + 1;
        let mut model = Toy {
            nodes,
            actions,
            states: vec![0; batch * nodes],
        };
        for b in 0..batch {
            model.states[b * nodes] = 17 * b as i64 + 1;
        }
        let roots = Roots {
            logits: (0..batch * actions).map(|i| (i % 7) as f32 * 0.3).collect(),
            value: (0..batch).map(|b| b as f32 * 0.1).collect(),
            invalid: (0..batch * actions).map(|i| i % 9 == 4).collect(),
            gumbel: (0..batch * actions).map(|i| (i % 5) as f32 * 0.2).collect(),
        };
        let config = SearchConfig {
            kind: SearchKind::Gumbel,
            simulations,
            max_considered_actions: 4,
            threads,
            ..SearchConfig::default()
        };
        ParallelSearch::new(config).run(&roots, &mut model, 0.0, &mut Noise::new(3))
    }

    #[test]
    fn shards_give_the_single_threaded_result() {
        // Gumbel search with given Gumbel noise draws nothing, so any split
        // of the batch must reproduce the one-thread search exactly.
        for batch in [1, 5, 8] {
            let one = search(1, batch);
            for threads in [2, 3] {
                let many = search(threads, batch);
                assert_eq!(
                    one.actions, many.actions,
                    "batch {batch}, {threads} threads"
                );
                assert_eq!(one.visits, many.visits, "batch {batch}, {threads} threads");
                assert_eq!(one.policy, many.policy);
                assert_eq!(one.value, many.value);
            }
        }
    }

    #[test]
    fn split_covers_the_batch_evenly() {
        assert_eq!(split(7, 3), vec![0..3, 3..5, 5..7]);
        assert_eq!(split(2, 2), vec![0..1, 1..2]);
    }
}
