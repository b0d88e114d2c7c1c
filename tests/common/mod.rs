//! Helpers shared by the half-precision test binaries (each its own
//! process, since a device's float type is fixed per process).

use burn::optim::{Adam, AdamConfig, Optimizer};
use burn::tensor::{Device, Tensor};
use somnium::nn::master_weights::MasterWeights;
use somnium::nn::tensor_util::to_vec;

/// Adam with the papers' epsilon.
pub fn adam() -> Adam {
    AdamConfig::new().with_epsilon(1e-8).build()
}

/// `steps` Adam steps at rate `lr` on a weight of 1.0 with a constant
/// gradient `grad`, on `device` in its half type: plainly, and with f32
/// master weights. Returns both final weights (as the model sees them).
pub fn plain_and_master(device: &Device, grad: f32, lr: f64, steps: usize) -> (f32, f32) {
    let weight = || Tensor::<1>::from_floats([1.0], device);
    let gradient = || Tensor::<1>::from_floats([grad], device);
    let (mut plain, mut plain_state) = (weight(), None);
    let (mut master, mut master_state) = (weight(), None);
    let wrapped = MasterWeights(adam());
    for _ in 0..steps {
        (plain, plain_state) = adam().step(lr, plain, gradient(), plain_state);
        (master, master_state) = wrapped.step(lr, master, gradient(), master_state);
    }
    assert_eq!(
        master.dtype(),
        plain.dtype(),
        "the model keeps computing in the half type"
    );
    (to_vec(plain)[0], to_vec(master)[0])
}
