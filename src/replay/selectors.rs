//! How sequence replay picks its windows beyond uniform: DreamerV3's
//! (2025) selector mixture (`replay.fracs` in the reference's configs).
//!
//! Each window of a batch comes, with the probabilities `fracs`, from one
//! of three selectors, as in the reference's `embodied/core/selectors.py`:
//!
//! - **uniform** over all complete windows (the 2023 design's only one);
//! - **priority**: windows weighted by the priorities of their steps,
//!   `maxfrac * max(p^e) + (1 - maxfrac) * mean(p^e)`. A step's priority
//!   starts at `initial` (infinite by default: windows with a step no
//!   update has seen come first, uniformly among themselves), drops to 0
//!   when a window holding it is drawn (`zero_on_sample`), and is set to
//!   the world model's loss at that step after each update. The reference
//!   defines that write-back (`priosignal: model`) but leaves it commented
//!   out in its released agent; here it is on whenever the priority
//!   selector is, since without it drawn steps would stay at 0 forever.
//! - **recency**: windows by age, the newest most likely, `P(age) ∝
//!   (1 + age)^-recexp` over the replay's capacity, stretched over the
//!   windows held while the replay is not yet full (the reference's rule).
//!
//! With `uniform = 1` nothing here runs and no random number is drawn, so
//! runs without the mixture are unchanged.
//!
//! Cost: each window the priority selector draws recomputes the weights of
//! every window held (linear in the replay's size; the reference keeps a
//! sum tree instead), which is small beside a CPU update at the replay
//! sizes of the CPU experiments but grows with a million-step buffer.

use serde::{Deserialize, Serialize};

use crate::config::Validator;

/// The share of each batch every selector draws (the reference's
/// `replay.fracs`); they sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayFractions {
    /// Uniform over complete windows.
    pub uniform: f64,
    /// By the priorities of the windows' steps.
    pub priority: f64,
    /// By age, newest first.
    pub recency: f64,
}

impl Default for ReplayFractions {
    fn default() -> Self {
        ReplayFractions {
            uniform: 1.0,
            priority: 0.0,
            recency: 0.0,
        }
    }
}

impl ReplayFractions {
    /// Whether every window is uniform (no selector state is needed).
    pub fn only_uniform(&self) -> bool {
        self.priority == 0.0 && self.recency == 0.0
    }

    /// Check the fractions (inside their table's section).
    pub fn validate(&self, v: &mut Validator) {
        for (name, value) in [
            ("uniform", self.uniform),
            ("priority", self.priority),
            ("recency", self.recency),
        ] {
            v.in_range(name, value, 0.0, 1.0);
        }
        let sum = self.uniform + self.priority + self.recency;
        v.check(
            (sum - 1.0).abs() <= 1e-6,
            "uniform",
            format!("uniform + priority + recency must sum to 1, got {sum}"),
        );
    }
}

/// The priority selector's settings (the reference's `replay.prio`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriorityConfig {
    /// Exponent on every step's priority.
    pub exponent: f32,
    /// Weight of the window's largest step priority against their mean.
    pub maxfrac: f32,
    /// A new step's priority (`inf`: before any step that was trained on).
    pub initial: f32,
    /// Set a drawn window's step priorities to 0 until the update's losses
    /// replace them.
    pub zero_on_sample: bool,
}

impl Default for PriorityConfig {
    fn default() -> Self {
        PriorityConfig {
            exponent: 0.8,
            maxfrac: 0.5,
            initial: f32::INFINITY,
            zero_on_sample: true,
        }
    }
}

impl PriorityConfig {
    /// Check the settings (inside their table's section).
    pub fn validate(&self, v: &mut Validator) {
        v.check(
            self.exponent >= 0.0 && self.exponent.is_finite(),
            "exponent",
            format!("must be finite and at least 0, got {}", self.exponent),
        );
        v.in_range("maxfrac", self.maxfrac, 0.0, 1.0);
        v.check(
            self.initial >= 0.0,
            "initial",
            format!("must be at least 0 (inf allowed), got {}", self.initial),
        );
    }
}

/// The weight of every window of `window` steps over one stream whose
/// steps, oldest first, have priorities `prios`: `maxfrac * max(p^e) +
/// (1 - maxfrac) * mean(p^e)`, infinite where a step's priority is.
///
/// # Shapes
/// `prios` `[len]` -> `[len + 1 - window]` (empty when `len < window`)
pub fn window_weights(prios: &[f32], window: usize, config: &PriorityConfig) -> Vec<f64> {
    let window = window.max(1);
    if prios.len() < window {
        return Vec::new();
    }
    let powered: Vec<f64> = prios
        .iter()
        .map(|&p| {
            let p = p.max(0.0) as f64;
            if p.is_infinite() || config.exponent == 1.0 {
                p
            } else {
                p.powf(config.exponent as f64)
            }
        })
        .collect();
    // Prefix sums of the finite values and counts of the infinite ones.
    let mut sums = Vec::with_capacity(powered.len() + 1);
    let mut infinite = Vec::with_capacity(powered.len() + 1);
    let (mut sum, mut count) = (0.0f64, 0usize);
    sums.push(sum);
    infinite.push(count);
    for &p in &powered {
        if p.is_infinite() {
            count += 1;
        } else {
            sum += p;
        }
        sums.push(sum);
        infinite.push(count);
    }
    let maxes = sliding_max(&powered, window);
    let maxfrac = config.maxfrac as f64;
    (0..=powered.len() - window)
        .map(|start| {
            if infinite[start + window] > infinite[start] {
                return f64::INFINITY;
            }
            let mean = (sums[start + window] - sums[start]) / window as f64;
            maxfrac * maxes[start] + (1.0 - maxfrac) * mean
        })
        .collect()
}

/// The largest value of every `window` consecutive values.
fn sliding_max(values: &[f64], window: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(values.len() + 1 - window);
    let mut candidates: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    for (i, &v) in values.iter().enumerate() {
        while candidates.back().is_some_and(|&j| values[j] <= v) {
            candidates.pop_back();
        }
        candidates.push_back(i);
        if candidates.front().is_some_and(|&j| j + window <= i) {
            candidates.pop_front();
        }
        if i + 1 >= window {
            out.push(values[*candidates.front().expect("one candidate")]);
        }
    }
    out
}

/// Draw an index with probability proportional to `weights`: uniformly
/// among the infinite ones if there are any, uniformly among all if they
/// sum to 0 (the reference's sample tree does both). `uniform` is a
/// number in `[0, 1)`.
pub fn draw_weighted(weights: &[f64], uniform: f64) -> usize {
    assert!(!weights.is_empty(), "replay: no window to draw from");
    let infinite = weights.iter().filter(|w| w.is_infinite()).count();
    if infinite > 0 {
        let k = ((uniform * infinite as f64) as usize).min(infinite - 1);
        return weights
            .iter()
            .enumerate()
            .filter(|(_, w)| w.is_infinite())
            .nth(k)
            .map(|(i, _)| i)
            .expect("k below the count");
    }
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return ((uniform * weights.len() as f64) as usize).min(weights.len() - 1);
    }
    let mut left = uniform * total;
    for (i, &w) in weights.iter().enumerate() {
        if left < w {
            return i;
        }
        left -= w;
    }
    // Rounding: the last window with any weight.
    weights
        .iter()
        .rposition(|&w| w > 0.0)
        .expect("a positive weight")
}

/// The recency selector's age distribution over `capacity` windows,
/// `P(age) ∝ (1 + age)^-recexp`, as cumulative probabilities.
pub fn recency_cdf(capacity: usize, recexp: f64) -> Vec<f64> {
    let mut cdf = Vec::with_capacity(capacity.max(1));
    let mut sum = 0.0;
    for age in 0..capacity.max(1) {
        sum += (1.0 + age as f64).powf(-recexp);
        cdf.push(sum);
    }
    cdf.iter_mut().for_each(|c| *c /= sum);
    cdf
}

/// An age among `held` windows: drawn from `cdf` (over the capacity) and,
/// while fewer windows are held than the capacity, stretched over those
/// held, as the reference's recency selector does. `uniform` is in `[0, 1)`.
pub fn draw_age(cdf: &[f64], held: usize, uniform: f64) -> usize {
    assert!(held > 0, "replay: no window to draw from");
    let age = cdf.partition_point(|&c| c <= uniform).min(cdf.len() - 1);
    if held < cdf.len() {
        (age * held / cdf.len()).min(held - 1)
    } else {
        age.min(held - 1)
    }
}

/// The selector mixture's state beside a sequence replay: its settings
/// and every held step's priority, by stream and slot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Selection {
    /// What share of each batch every selector draws.
    pub fracs: ReplayFractions,
    /// The priority selector's settings.
    pub prio: PriorityConfig,
    /// The recency selector's exponent.
    pub recexp: f64,
    /// Priority of every held step, `[stream][slot]`.
    priorities: Vec<Vec<f32>>,
    /// The recency distribution over the capacity (rebuilt when needed).
    #[serde(skip)]
    recency: Vec<f64>,
}

/// Which selector draws a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// Uniform.
    Uniform,
    /// By priority.
    Priority,
    /// By recency.
    Recency,
}

impl Selection {
    /// A mixture over `streams` streams whose steps so far (`held[s]` of
    /// stream `s`) start at the initial priority.
    pub fn new(fracs: ReplayFractions, prio: PriorityConfig, recexp: f64, held: &[usize]) -> Self {
        Selection {
            fracs,
            prio,
            recexp,
            priorities: held.iter().map(|&n| vec![prio.initial; n]).collect(),
            recency: Vec::new(),
        }
    }

    /// Whether this state serves `fracs`, `prio` and `recexp` over `streams`
    /// streams (a checkpoint's state is kept only then).
    pub fn fits(
        &self,
        fracs: &ReplayFractions,
        prio: &PriorityConfig,
        recexp: f64,
        streams: usize,
    ) -> bool {
        self.fracs == *fracs
            && self.prio == *prio
            && self.recexp == recexp
            && self.priorities.len() == streams
    }

    /// A step was written at `slot` of `stream`: it starts at the initial
    /// priority.
    pub fn record(&mut self, stream: usize, slot: usize) {
        let prios = &mut self.priorities[stream];
        if slot == prios.len() {
            prios.push(self.prio.initial);
        } else {
            prios[slot] = self.prio.initial;
        }
    }

    /// Set the priorities of the steps at `positions` (`(stream, slot)`).
    pub fn prioritize(&mut self, positions: &[(u32, u32)], values: &[f32]) {
        for (&(stream, slot), &value) in positions.iter().zip(values) {
            if let Some(p) = self
                .priorities
                .get_mut(stream as usize)
                .and_then(|s| s.get_mut(slot as usize))
            {
                // A non-finite loss must not take over the sampling.
                *p = if value.is_finite() {
                    value.max(0.0)
                } else {
                    0.0
                };
            }
        }
    }

    /// The priority of the step at `slot` of `stream`.
    pub fn priority(&self, stream: usize, slot: usize) -> Option<f32> {
        self.priorities.get(stream)?.get(slot).copied()
    }

    /// Which selector draws the next window (`uniform` in `[0, 1)`).
    pub fn choose(&self, uniform: f64) -> Selector {
        if uniform < self.fracs.priority {
            Selector::Priority
        } else if uniform < self.fracs.priority + self.fracs.recency {
            Selector::Recency
        } else {
            Selector::Uniform
        }
    }

    /// The priorities of `stream`'s steps, oldest first, for a ring that
    /// holds `len` steps from slot `head`.
    fn in_order(&self, stream: usize, head: usize, len: usize) -> Vec<f32> {
        let prios = &self.priorities[stream];
        (0..len).map(|k| prios[(head + k) % len]).collect()
    }

    /// Draw one window of `context + length` steps by priority over
    /// streams laid out as `(head, len)`, as `(stream, offset from its
    /// oldest step)`. A window weighs by its last `length` steps, the ones
    /// an update trains on and writes back (its `context` steps only start
    /// the sequence); with `zero_on_sample`, their priorities drop to 0.
    pub fn draw_priority(
        &mut self,
        layout: &[(usize, usize)],
        context: usize,
        length: usize,
        uniform: f64,
    ) -> (usize, usize) {
        let per_stream: Vec<Vec<f64>> = layout
            .iter()
            .enumerate()
            .map(|(s, &(head, len))| {
                let trained = window_weights(&self.in_order(s, head, len), length, &self.prio);
                // The window starting at `o` trains on steps `o + context ..`.
                let windows = (len + 1).saturating_sub(context + length);
                trained.into_iter().skip(context).take(windows).collect()
            })
            .collect();
        let all: Vec<f64> = per_stream.iter().flatten().copied().collect();
        let mut index = draw_weighted(&all, uniform);
        let mut stream = 0;
        while index >= per_stream[stream].len() {
            index -= per_stream[stream].len();
            stream += 1;
        }
        if self.prio.zero_on_sample {
            let (head, len) = layout[stream];
            for k in index + context..index + context + length {
                self.priorities[stream][(head + k) % len] = 0.0;
            }
        }
        (stream, index)
    }

    /// Draw one window of `window` steps by recency over streams laid out
    /// as `(head, len)`, each holding at most `capacity` steps. Ages
    /// interleave the streams, which advance together.
    pub fn draw_recency(
        &mut self,
        layout: &[(usize, usize)],
        window: usize,
        capacity: usize,
        uniform: f64,
    ) -> (usize, usize) {
        let per_capacity = (capacity + 1).saturating_sub(window).max(1) * layout.len();
        if self.recency.len() != per_capacity {
            self.recency = recency_cdf(per_capacity, self.recexp);
        }
        let held: Vec<usize> = layout
            .iter()
            .map(|&(_, len)| (len + 1).saturating_sub(window))
            .collect();
        let streams: Vec<usize> = (0..layout.len()).filter(|&s| held[s] > 0).collect();
        let total: usize = held.iter().sum();
        let age = draw_age(&self.recency, total, uniform);
        let stream = streams[age % streams.len()];
        let age = (age / streams.len()).min(held[stream] - 1);
        (stream, held[stream] - 1 - age)
    }
}

#[cfg(test)]
#[path = "selectors_tests.rs"]
mod tests;
