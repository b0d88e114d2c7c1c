//! MuZero's replay: whole trajectories with search statistics, sampled by
//! priority, and the n-step targets of an unrolled position.
//!
//! A trajectory holds observations `o_0..o_T`, actions `a_0..a_{T-1}`,
//! rewards `r_1..r_T` (the reward after each action) and, for every step
//! the agent searched, the search policy and root value. Positions are
//! sampled with probability `p_i^alpha / sum p^alpha` and weighted by
//! `(N P(i))^-beta / max w` (Schaul et al. 2016); new positions get the
//! largest priority seen, and each update writes back `|v - z|`.
//! Trajectories still being collected are sampled too: their last
//! observation bootstraps like a truncation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::{Noise, ObsKind};

/// One trajectory (complete or still being collected).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trajectory {
    /// Observations `o_0..o_T`, flattened; images as bytes.
    obs_f32: Vec<f32>,
    #[serde(with = "serde_bytes")]
    obs_u8: Vec<u8>,
    /// Actions `a_0..a_{T-1}`.
    pub actions: Vec<u32>,
    /// Rewards `r_1..r_T`.
    pub rewards: Vec<f32>,
    /// Search policies `[T * A]` (uniform where the step was not searched).
    pub policies: Vec<f32>,
    /// Whether a search chose each action (false during random prefill).
    pub searched: Vec<bool>,
    /// Root search values `[T]`.
    pub root_values: Vec<f32>,
    /// Priorities `[T]`.
    pub priorities: Vec<f32>,
    /// The episode ended by termination (the value after `o_T` is 0).
    pub terminated: bool,
    /// No more steps will be added.
    pub closed: bool,
    /// Replay-wide index of step 0, for the age of a position.
    pub first_step: u64,
}

impl Trajectory {
    /// Steps `T` (actions taken).
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether no action has been taken yet.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Search statistics of the step about to be taken in one environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchStats {
    /// The improved policy `[A]`.
    pub policy: Vec<f32>,
    /// The root value.
    pub value: f32,
}

/// A sampled position: which trajectory, which step, and its weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// The trajectory's serial number.
    pub trajectory: u64,
    /// The step `t`.
    pub step: usize,
    /// The importance-sampling weight (the largest in a batch is 1).
    pub weight: f32,
}

/// Targets of a batch of positions unrolled `K` steps, row `b * (K + 1) + k`.
#[derive(Debug, Clone, Default)]
pub struct UnrollTargets {
    /// Positions `B`.
    pub batch: usize,
    /// Unroll steps `K`.
    pub unroll: usize,
    /// The observation at each position `[B * obs_len]`.
    pub root_obs: Vec<f32>,
    /// Actions `a_{t+k}` for `k < K` as indices `[B * K]` (random past the end).
    pub actions: Vec<usize>,
    /// Reward targets `r_{t+k+1}` `[B * K]` (0 past the end).
    pub rewards: Vec<f32>,
    /// Policy targets `[B * (K + 1) * A]`.
    pub policies: Vec<f32>,
    /// 1 where the policy target is a real search result `[B * (K + 1)]`.
    pub policy_mask: Vec<f32>,
    /// 1 where an action was taken at `t + k` (inside the trajectory, not
    /// its last observation) `[B * (K + 1)]`.
    pub acted: Vec<f32>,
    /// The discounted reward part of each value target `[B * (K + 1)]`.
    pub value_rewards: Vec<f32>,
    /// The discount of the bootstrap value in each value target `[B * (K + 1)]`
    /// (0 where the bootstrap lies past a termination).
    pub bootstrap_discount: Vec<f32>,
    /// Row of `extra_obs` holding the bootstrap observation `[B * (K + 1)]`.
    pub bootstrap_row: Vec<usize>,
    /// The stored root value at each bootstrap observation (used when the
    /// target network does not recompute it) `[B * (K + 1)]`.
    pub stored_bootstrap: Vec<f32>,
    /// Row of `extra_obs` holding `o_{t+k}` `[B * (K + 1)]`.
    pub unroll_row: Vec<usize>,
    /// 1 where `o_{t+k}` exists (inside the trajectory) `[B * (K + 1)]`.
    pub unroll_mask: Vec<f32>,
    /// Observations referenced by the row indices, flattened.
    pub extra_obs: Vec<f32>,
    /// The sampled positions.
    pub positions: Vec<Position>,
}

/// Prioritised replay of trajectories.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrajectoryReplay {
    obs_len: usize,
    bytes: bool,
    actions: usize,
    capacity: usize,
    trajectories: BTreeMap<u64, Trajectory>,
    open: Vec<Option<u64>>,
    pending: Vec<Option<SearchStats>>,
    next_serial: u64,
    steps: usize,
    max_priority: f32,
    /// Steps ever added.
    pub added: u64,
}

impl TrajectoryReplay {
    /// A replay of `capacity` steps fed by `envs` environment copies.
    pub fn new(capacity: usize, envs: usize, obs_kind: ObsKind, actions: usize) -> Self {
        TrajectoryReplay {
            obs_len: obs_kind.flat_len(),
            bytes: matches!(obs_kind, ObsKind::Image { .. }),
            actions,
            capacity,
            trajectories: BTreeMap::new(),
            open: vec![None; envs],
            pending: vec![None; envs],
            next_serial: 0,
            steps: 0,
            max_priority: 1.0,
            added: 0,
        }
    }

    /// Steps held.
    pub fn len(&self) -> usize {
        self.steps
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.steps == 0
    }

    /// The trajectory with serial number `serial`, if still held.
    pub fn trajectory(&self, serial: u64) -> Option<&Trajectory> {
        self.trajectories.get(&serial)
    }

    /// Remember the search statistics of the action about to be taken in `env`.
    pub fn set_search(&mut self, env: usize, stats: SearchStats) {
        self.pending[env] = Some(stats);
    }

    /// Add an observation of environment `env`: the first of an episode, or
    /// the one reached by `action` with `reward`. `terminal` marks the end
    /// of the episode by termination.
    pub fn add(
        &mut self,
        env: usize,
        obs: &[f32],
        action: Option<usize>,
        reward: f32,
        is_first: bool,
        terminal: bool,
    ) {
        if is_first || self.open[env].is_none() {
            self.close(env);
            let serial = self.next_serial;
            self.next_serial += 1;
            let mut trajectory = Trajectory {
                obs_f32: Vec::new(),
                obs_u8: Vec::new(),
                actions: Vec::new(),
                rewards: Vec::new(),
                policies: Vec::new(),
                searched: Vec::new(),
                root_values: Vec::new(),
                priorities: Vec::new(),
                terminated: false,
                closed: false,
                first_step: self.added,
            };
            self.push_obs(&mut trajectory, obs);
            self.trajectories.insert(serial, trajectory);
            self.open[env] = Some(serial);
            self.pending[env] = None;
            return;
        }
        let serial = self.open[env].expect("checked above");
        let stats = self.pending[env].take();
        let (a, max_priority) = (self.actions, self.max_priority);
        let mut trajectory = self
            .trajectories
            .remove(&serial)
            .expect("open trajectory is held");
        trajectory.actions.push(action.unwrap_or(0) as u32);
        trajectory.rewards.push(reward);
        match stats {
            Some(stats) => {
                trajectory.policies.extend_from_slice(&stats.policy);
                trajectory.root_values.push(stats.value);
                trajectory.searched.push(true);
            }
            None => {
                trajectory
                    .policies
                    .extend(std::iter::repeat_n(1.0 / a as f32, a));
                trajectory.root_values.push(0.0);
                trajectory.searched.push(false);
            }
        }
        trajectory.priorities.push(max_priority);
        self.push_obs(&mut trajectory, obs);
        self.trajectories.insert(serial, trajectory);
        self.steps += 1;
        self.added += 1;
        if terminal {
            if let Some(t) = self.trajectories.get_mut(&serial) {
                t.terminated = true;
            }
            self.close(env);
        }
        self.evict();
    }

    fn push_obs(&self, trajectory: &mut Trajectory, obs: &[f32]) {
        debug_assert_eq!(obs.len(), self.obs_len);
        if self.bytes {
            trajectory
                .obs_u8
                .extend(obs.iter().map(|&v| v.clamp(0.0, 255.0) as u8));
        } else {
            trajectory.obs_f32.extend_from_slice(obs);
        }
    }

    fn close(&mut self, env: usize) {
        if let Some(serial) = self.open[env].take() {
            let empty = self.trajectories.get(&serial).is_some_and(|t| t.is_empty());
            if empty {
                self.trajectories.remove(&serial);
            } else if let Some(t) = self.trajectories.get_mut(&serial) {
                t.closed = true;
            }
        }
        self.pending[env] = None;
    }

    /// Drop the oldest closed trajectories while over capacity.
    fn evict(&mut self) {
        while self.steps > self.capacity {
            let oldest = self
                .trajectories
                .iter()
                .find(|(_, t)| t.closed)
                .map(|(&s, t)| (s, t.len()));
            match oldest {
                Some((serial, len)) => {
                    self.trajectories.remove(&serial);
                    self.steps -= len;
                }
                None => break,
            }
        }
    }

    /// Observation `index` of a trajectory, appended to `out` as floats.
    fn copy_obs(&self, trajectory: &Trajectory, index: usize, out: &mut Vec<f32>) {
        let range = index * self.obs_len..(index + 1) * self.obs_len;
        if self.bytes {
            out.extend(trajectory.obs_u8[range].iter().map(|&b| b as f32));
        } else {
            out.extend_from_slice(&trajectory.obs_f32[range]);
        }
    }

    /// Sample `batch` positions by priority.
    pub fn sample(&self, batch: usize, alpha: f32, beta: f32, noise: &mut Noise) -> Vec<Position> {
        let mut cells: Vec<(u64, usize, f64)> = Vec::with_capacity(self.steps);
        let mut total = 0.0f64;
        for (&serial, t) in &self.trajectories {
            for (step, &p) in t.priorities.iter().enumerate() {
                let w = (p as f64).powf(alpha as f64);
                total += w;
                cells.push((serial, step, total));
            }
        }
        assert!(!cells.is_empty(), "sampling from an empty replay");
        let n = cells.len() as f64;
        let mut picked: Vec<(u64, usize, f64)> = (0..batch)
            .map(|_| {
                let u = noise.uniform() as f64 * total;
                let i = cells.partition_point(|c| c.2 <= u).min(cells.len() - 1);
                let previous = if i == 0 { 0.0 } else { cells[i - 1].2 };
                let probability = (cells[i].2 - previous) / total;
                (cells[i].0, cells[i].1, probability)
            })
            .collect();
        let weights: Vec<f64> = picked
            .iter()
            .map(|p| (n * p.2).powf(-(beta as f64)))
            .collect();
        let max = weights.iter().copied().fold(f64::MIN_POSITIVE, f64::max);
        picked
            .drain(..)
            .zip(weights)
            .map(|((trajectory, step, _), w)| Position {
                trajectory,
                step,
                weight: (w / max) as f32,
            })
            .collect()
    }

    /// Set the priorities of sampled positions.
    pub fn update_priorities(
        &mut self,
        positions: &[Position],
        priorities: &[f32],
        min_priority: f32,
    ) {
        for (position, &p) in positions.iter().zip(priorities) {
            if let Some(t) = self.trajectories.get_mut(&position.trajectory) {
                let p = p.max(min_priority);
                t.priorities[position.step] = p;
                self.max_priority = self.max_priority.max(p);
            }
        }
    }

    /// The n-step targets of `positions` unrolled `unroll` steps.
    /// `td_steps(age)` gives the horizon for a position `age` steps old.
    pub fn targets(
        &self,
        positions: &[Position],
        unroll: usize,
        discount: f32,
        td_steps: impl Fn(u64) -> usize,
        noise: &mut Noise,
    ) -> UnrollTargets {
        let a = self.actions;
        let mut out = UnrollTargets {
            batch: positions.len(),
            unroll,
            positions: positions.to_vec(),
            ..UnrollTargets::default()
        };
        let mut extra_rows = 0usize;
        for position in positions {
            let trajectory = &self.trajectories[&position.trajectory];
            let t0 = position.step;
            let length = trajectory.len();
            self.copy_obs(trajectory, t0, &mut out.root_obs);
            let age = self.added.saturating_sub(trajectory.first_step + t0 as u64);
            let n = td_steps(age).max(1);
            for k in 0..=unroll {
                let t = t0 + k;
                if k < unroll {
                    if t < length {
                        out.actions.push(trajectory.actions[t] as usize);
                        out.rewards.push(trajectory.rewards[t]);
                    } else {
                        out.actions.push(noise.below(a));
                        out.rewards.push(0.0);
                    }
                }
                out.acted.push(if t < length { 1.0 } else { 0.0 });
                if t < length && trajectory.searched[t] {
                    out.policies
                        .extend_from_slice(&trajectory.policies[t * a..(t + 1) * a]);
                    out.policy_mask.push(1.0);
                } else {
                    out.policies.extend(std::iter::repeat_n(1.0 / a as f32, a));
                    out.policy_mask.push(0.0);
                }
                if t <= length {
                    self.copy_obs(trajectory, t, &mut out.extra_obs);
                    out.unroll_row.push(extra_rows);
                    out.unroll_mask.push(1.0);
                    extra_rows += 1;
                } else {
                    out.unroll_row.push(0);
                    out.unroll_mask.push(0.0);
                }
                // Value target: rewards up to the horizon, then a bootstrap.
                if t >= length {
                    // At or past the end: a terminal is worth 0, a truncation
                    // (or an episode still running) the value of its last observation.
                    let bootstrap = if t == length && !trajectory.terminated {
                        1.0
                    } else {
                        0.0
                    };
                    out.value_rewards.push(0.0);
                    self.push_bootstrap(trajectory, length, bootstrap, &mut out, &mut extra_rows);
                    continue;
                }
                let horizon = (t + n).min(length);
                let mut value = 0.0;
                let mut scale = 1.0;
                for i in t..horizon {
                    value += scale * trajectory.rewards[i];
                    scale *= discount;
                }
                let bootstrap = if horizon == length && trajectory.terminated {
                    0.0
                } else {
                    scale
                };
                out.value_rewards.push(value);
                self.push_bootstrap(trajectory, horizon, bootstrap, &mut out, &mut extra_rows);
            }
        }
        out
    }

    fn push_bootstrap(
        &self,
        trajectory: &Trajectory,
        index: usize,
        discount: f32,
        out: &mut UnrollTargets,
        extra_rows: &mut usize,
    ) {
        out.bootstrap_discount.push(discount);
        out.stored_bootstrap
            .push(trajectory.root_values.get(index).copied().unwrap_or(0.0));
        if discount > 0.0 {
            self.copy_obs(trajectory, index, &mut out.extra_obs);
            out.bootstrap_row.push(*extra_rows);
            *extra_rows += 1;
        } else {
            out.bootstrap_row.push(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay_with_episode(rewards: &[f32], terminated: bool) -> TrajectoryReplay {
        let mut replay = TrajectoryReplay::new(100, 1, ObsKind::Vector { width: 1 }, 2);
        replay.add(0, &[0.0], None, 0.0, true, false);
        for (i, &r) in rewards.iter().enumerate() {
            replay.set_search(
                0,
                SearchStats {
                    policy: vec![0.25, 0.75],
                    value: 10.0 * (i + 1) as f32,
                },
            );
            let last = i + 1 == rewards.len();
            replay.add(
                0,
                &[(i + 1) as f32],
                Some(i % 2),
                r,
                false,
                last && terminated,
            );
        }
        replay
    }

    #[test]
    fn n_step_value_targets_by_hand() {
        // Rewards 1, 2, 4 then termination; discount 0.5, n = 2.
        let replay = replay_with_episode(&[1.0, 2.0, 4.0], true);
        let position = Position {
            trajectory: 0,
            step: 0,
            weight: 1.0,
        };
        let targets = replay.targets(&[position], 3, 0.5, |_| 2, &mut Noise::new(0));
        // z_0 = 1 + 0.5 * 2 + 0.25 * v(o_2); z_1 = 2 + 0.5 * 4 + 0 (terminal);
        // z_2 = 4 (terminal right after); z_3 = 0 (the terminal state).
        assert_eq!(targets.value_rewards, vec![2.0, 4.0, 4.0, 0.0]);
        assert_eq!(targets.bootstrap_discount, vec![0.25, 0.0, 0.0, 0.0]);
        assert_eq!(
            targets.stored_bootstrap[0], 30.0,
            "the root value stored at o_2"
        );
        let row = targets.bootstrap_row[0];
        assert_eq!(targets.extra_obs[row], 2.0, "bootstraps from o_2");
        assert_eq!(targets.actions, vec![0, 1, 0]);
        assert_eq!(targets.rewards, vec![1.0, 2.0, 4.0]);
        assert_eq!(targets.policy_mask, vec![1.0, 1.0, 1.0, 0.0]);
        assert_eq!(targets.unroll_mask, vec![1.0; 4]);
    }

    #[test]
    fn truncated_episodes_bootstrap_from_their_last_observation() {
        let replay = replay_with_episode(&[1.0, 1.0], false);
        let position = Position {
            trajectory: 0,
            step: 1,
            weight: 1.0,
        };
        let targets = replay.targets(&[position], 2, 0.9, |_| 5, &mut Noise::new(0));
        // z_1 = 1 + 0.9 v(o_2); z_2 = v(o_2) (no terminal); k = 2 is past the end.
        assert_eq!(targets.value_rewards, vec![1.0, 0.0, 0.0]);
        assert!((targets.bootstrap_discount[0] - 0.9).abs() < 1e-6);
        assert_eq!(targets.bootstrap_discount[1], 1.0);
        assert_eq!(targets.bootstrap_discount[2], 0.0);
        assert_eq!(targets.unroll_mask, vec![1.0, 1.0, 0.0]);
        assert_eq!(targets.extra_obs[targets.bootstrap_row[1]], 2.0);
    }

    #[test]
    fn priorities_shape_sampling_and_weights() {
        let mut replay = replay_with_episode(&[0.0, 0.0], true);
        let positions = [
            Position {
                trajectory: 0,
                step: 0,
                weight: 1.0,
            },
            Position {
                trajectory: 0,
                step: 1,
                weight: 1.0,
            },
        ];
        replay.update_priorities(&positions, &[3.0, 1.0], 1e-6);
        let sampled = replay.sample(4000, 1.0, 1.0, &mut Noise::new(1));
        let first = sampled.iter().filter(|p| p.step == 0).count() as f64 / 4000.0;
        assert!(
            (first - 0.75).abs() < 0.03,
            "P(step 0) = 3 / 4, got {first}"
        );
        // Weights (N P)^-1 normalised by the largest: step 1 has weight 1,
        // step 0 has (2 * 0.75)^-1 / (2 * 0.25)^-1 = 1 / 3.
        let w0 = sampled.iter().find(|p| p.step == 0).unwrap().weight;
        let w1 = sampled.iter().find(|p| p.step == 1).unwrap().weight;
        assert!(
            (w0 - 1.0 / 3.0).abs() < 1e-5 && (w1 - 1.0).abs() < 1e-6,
            "{w0} {w1}"
        );
    }

    #[test]
    fn old_trajectories_are_evicted() {
        let mut replay = TrajectoryReplay::new(3, 1, ObsKind::Vector { width: 1 }, 2);
        for episode in 0..3 {
            replay.add(0, &[0.0], None, 0.0, true, false);
            replay.add(0, &[1.0], Some(0), episode as f32, false, true);
            replay.add(0, &[0.0], None, 0.0, true, false);
            replay.add(0, &[1.0], Some(1), 0.0, false, false);
        }
        assert!(replay.len() <= 3);
        assert!(replay.trajectory(0).is_none(), "the oldest is gone");
    }
}
