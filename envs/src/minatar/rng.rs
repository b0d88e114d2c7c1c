//! The random draws MinAtar games make, behind a trait so tests can inject
//! the reference's own draws.
//!
//! The Python reference draws from one `numpy.random.RandomState` shared by
//! the sticky-action wrapper and the game. Our games make the same kinds of
//! draws in the same order through [`MinAtarRng`]; [`StdMinAtarRng`] is the
//! production generator (equally distributed, not numpy's stream) and
//! [`ReplayRng`] hands back a recorded sequence, so that a Rust game fed the
//! reference's draws must follow the reference step for step.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The seed used when an environment is reset without ever being seeded.
pub const DEFAULT_SEED: u64 = 0;

/// A source of the draws MinAtar games make. Each method mirrors one numpy
/// `RandomState` call, so a recorded reference run can be replayed exactly.
pub trait MinAtarRng: Send {
    /// Restart the stream from `seed` (a [`ReplayRng`] ignores this).
    fn reseed(&mut self, seed: u64);
    /// `rand()`: a uniform float in `[0, 1)`.
    fn uniform(&mut self) -> f64;
    /// `randint(low, high)`: a uniform integer in `[low, high)`.
    fn randint(&mut self, low: i64, high: i64) -> i64;
    /// `rand(n)`: `n` uniform floats in `[0, 1)`.
    fn uniform_n(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.uniform()).collect()
    }
    /// `randint(low, high, n)`: `n` uniform integers in `[low, high)`.
    fn randint_n(&mut self, low: i64, high: i64, n: usize) -> Vec<i64> {
        (0..n).map(|_| self.randint(low, high)).collect()
    }
}

/// The production generator: [`StdRng`] seeded by `reset(seed)`.
#[derive(Debug)]
pub struct StdMinAtarRng {
    rng: StdRng,
}

impl StdMinAtarRng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl Default for StdMinAtarRng {
    fn default() -> Self {
        Self::new(DEFAULT_SEED)
    }
}

impl MinAtarRng for StdMinAtarRng {
    fn reseed(&mut self, seed: u64) {
        self.rng = StdRng::seed_from_u64(seed);
    }
    fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }
    fn randint(&mut self, low: i64, high: i64) -> i64 {
        self.rng.random_range(low..high)
    }
}

/// The kind and arguments of one recorded draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrawKind {
    /// `rand()`.
    Uniform,
    /// `randint(low, high)`.
    Randint {
        /// Inclusive lower bound.
        low: i64,
        /// Exclusive upper bound.
        high: i64,
    },
    /// `rand(n)`.
    UniformN {
        /// Number of values.
        n: usize,
    },
    /// `randint(low, high, n)`.
    RandintN {
        /// Inclusive lower bound.
        low: i64,
        /// Exclusive upper bound.
        high: i64,
        /// Number of values.
        n: usize,
    },
}

/// One recorded draw: what was asked for and what came back.
#[derive(Debug, Clone, PartialEq)]
pub struct Draw {
    /// The call made.
    pub kind: DrawKind,
    /// The values returned (one for the scalar kinds, `n` for the others).
    pub values: Vec<f64>,
}

/// Replays recorded draws in order. Panics, naming the draw, when the game
/// asks for a different kind of draw (or different arguments) than was
/// recorded next, or for more draws than were recorded.
#[derive(Debug, Clone)]
pub struct ReplayRng {
    draws: Vec<Draw>,
    next: usize,
}

impl ReplayRng {
    /// A replay of `draws`, first to last.
    pub fn new(draws: Vec<Draw>) -> Self {
        Self { draws, next: 0 }
    }

    /// How many draws have been handed out.
    pub fn consumed(&self) -> usize {
        self.next
    }

    /// How many recorded draws are left.
    pub fn remaining(&self) -> usize {
        self.draws.len() - self.next
    }

    fn take(&mut self, kind: DrawKind) -> &[f64] {
        let index = self.next;
        let Some(draw) = self.draws.get(index) else {
            panic!(
                "ReplayRng: draw {index} ({kind:?}) asked for, but only {} were recorded",
                self.draws.len()
            );
        };
        assert!(
            draw.kind == kind,
            "ReplayRng: draw {index}: the game asked for {kind:?}, the reference drew {:?}",
            draw.kind
        );
        self.next += 1;
        &self.draws[index].values
    }
}

impl MinAtarRng for ReplayRng {
    fn reseed(&mut self, _seed: u64) {}
    fn uniform(&mut self) -> f64 {
        self.take(DrawKind::Uniform)[0]
    }
    fn randint(&mut self, low: i64, high: i64) -> i64 {
        self.take(DrawKind::Randint { low, high })[0] as i64
    }
    fn uniform_n(&mut self, n: usize) -> Vec<f64> {
        self.take(DrawKind::UniformN { n }).to_vec()
    }
    fn randint_n(&mut self, low: i64, high: i64, n: usize) -> Vec<i64> {
        self.take(DrawKind::RandintN { low, high, n })
            .iter()
            .map(|&v| v as i64)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_rng_is_seeded_and_in_range() {
        let mut a = StdMinAtarRng::new(4);
        let mut b = StdMinAtarRng::new(4);
        for _ in 0..100 {
            let (x, y) = (a.uniform(), b.uniform());
            assert_eq!(x, y);
            assert!((0.0..1.0).contains(&x));
            let k = a.randint(1, 9);
            assert_eq!(k, b.randint(1, 9));
            assert!((1..9).contains(&k));
        }
        assert_eq!(a.randint_n(1, 6, 8).len(), 8);
    }

    #[test]
    fn replay_returns_draws_in_order() {
        let mut rng = ReplayRng::new(vec![
            Draw {
                kind: DrawKind::Uniform,
                values: vec![0.25],
            },
            Draw {
                kind: DrawKind::RandintN {
                    low: 1,
                    high: 6,
                    n: 2,
                },
                values: vec![3.0, 5.0],
            },
        ]);
        assert_eq!(rng.uniform(), 0.25);
        assert_eq!(rng.randint_n(1, 6, 2), vec![3, 5]);
        assert_eq!(rng.remaining(), 0);
    }

    #[test]
    #[should_panic(expected = "the game asked for Randint")]
    fn replay_panics_on_a_different_kind() {
        let mut rng = ReplayRng::new(vec![Draw {
            kind: DrawKind::Uniform,
            values: vec![0.5],
        }]);
        rng.randint(0, 2);
    }
}
