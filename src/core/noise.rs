//! The one source of randomness of a run.
//!
//! Every random draw (latent samples, action samples, exploration, replay
//! sampling) comes from a [`Noise`], a PCG generator whose state is plain
//! data: it is saved in checkpoints, so a resumed run continues the very
//! same random stream. Random tensors are drawn on the host and uploaded,
//! which keeps results identical across backends.

use burn::tensor::{Device, Tensor};
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use crate::nn::tensor_util::tensor_from_vec;

/// A seeded, serialisable random number generator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Noise {
    rng: Pcg64Mcg,
}

impl Noise {
    /// A generator seeded from `seed`.
    pub fn new(seed: u64) -> Self {
        Noise {
            rng: Pcg64Mcg::seed_from_u64(seed),
        }
    }

    /// An independent generator derived from this one (for a worker or a sub-task).
    pub fn fork(&mut self) -> Noise {
        Noise::new(self.rng.random())
    }

    /// A uniform draw in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        self.rng.random()
    }

    /// A uniform integer in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }

    /// A raw 64-bit draw (for seeding environments).
    pub fn next_u64(&mut self) -> u64 {
        self.rng.random()
    }

    /// A standard normal draw.
    pub fn normal(&mut self) -> f32 {
        StandardNormal.sample(&mut self.rng)
    }

    /// A tensor of uniform draws in (0, 1).
    pub fn uniform_tensor<const D: usize>(
        &mut self,
        shape: [usize; D],
        device: &Device,
    ) -> Tensor<D> {
        let n = shape.iter().product();
        let values = (0..n)
            .map(|_| self.rng.random::<f32>().max(f32::MIN_POSITIVE))
            .collect();
        tensor_from_vec(values, shape, device)
    }

    /// A tensor of standard normal draws.
    pub fn normal_tensor<const D: usize>(
        &mut self,
        shape: [usize; D],
        device: &Device,
    ) -> Tensor<D> {
        let n = shape.iter().product();
        let values = (0..n)
            .map(|_| StandardNormal.sample(&mut self.rng))
            .collect();
        tensor_from_vec(values, shape, device)
    }

    /// Access the underlying generator for `rand` APIs.
    pub fn rng(&mut self) -> &mut Pcg64Mcg {
        &mut self.rng
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_state_survives_serialisation() {
        let mut a = Noise::new(3);
        let mut b = Noise::new(3);
        assert_eq!(a.next_u64(), b.next_u64());
        let saved = serde_json::to_string(&a).unwrap();
        let mut restored: Noise = serde_json::from_str(&saved).unwrap();
        assert_eq!(a.uniform(), restored.uniform());
        assert_eq!(a.below(1000), restored.below(1000));
    }

    #[test]
    fn normal_draws_have_unit_variance() {
        let mut noise = Noise::new(1);
        let xs: Vec<f32> = (0..20000).map(|_| noise.normal()).collect();
        let mean = xs.iter().sum::<f32>() / xs.len() as f32;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / xs.len() as f32;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "mean {mean} var {var}"
        );
    }
}
