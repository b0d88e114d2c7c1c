//! somnium's own GPU kernels (`somnium::nn::fused`) against the formulas
//! they implement, composed from burn's operations on flex: the
//! normalisation's values and the gradients of input, scale and shift
//! (LayerNorm and RMSNorm, with and without SiLU, on rows narrower and
//! wider than a cube's threads); the normalised GRU update's values and
//! the gradients of its four inputs; the unimix categorical's
//! log-probabilities and their gradient; its one-hot samples; and the
//! RSSM's whole observe loop (values and every weight's gradient).
//!
//! Devices as in `tests/backend_parity.rs` (`SOMNIUM_PARITY_DEVICES`; a
//! build without a GPU backend skips).

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::activation::{sigmoid, silu, softmax};
use burn::tensor::{Device, Tensor};
use somnium::core::Noise;
use somnium::dreamer::RssmConfig;
use somnium::dreamer::rssm::{Rssm, RssmState};
use somnium::nn::dist::OneHotCategorical;
use somnium::nn::fused::{self, NormOp};
use somnium::nn::norm::NormKind;
use somnium::nn::tensor_util::{tensor_from_vec, to_vec};

mod gpu_devices;
use gpu_devices::devices_under_test;

/// Values: relative to the largest magnitude.
const VALUE_RTOL: f32 = 1e-5;
/// Gradients: relative to the largest magnitude of each.
const GRAD_RTOL: f32 = 1e-4;

/// Deterministic, varied values in about [-scale, scale] plus `offset`.
fn values(n: usize, seed: u32, scale: f32, offset: f32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let k = (i as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(97));
            offset + scale * ((k % 10_007) as f32 / 5_003.5 - 1.0)
        })
        .collect()
}

/// The normalisation composed from burn's operations.
///
/// # Shapes
/// `x [R, W]`, `gamma [W]`, `beta [W]` -> `[R, W]`
fn composed(x: Tensor<2>, gamma: Tensor<1>, beta: Option<Tensor<1>>, op: NormOp) -> Tensor<2> {
    let centred = if op.center {
        x.clone() - x.mean_dim(1)
    } else {
        x
    };
    let r = (centred.clone().square().mean_dim(1) + op.epsilon)
        .sqrt()
        .recip();
    let mut y = centred * r * gamma.unsqueeze_dim(0);
    if let Some(beta) = beta {
        y = y + beta.unsqueeze_dim(0);
    }
    if op.silu { silu(y) } else { y }
}

/// Output, and the gradients of input, gamma and beta, of `sum(out * w)`:
/// composed on flex, by the kernel on `Some(device)`.
fn run(
    device: Option<&Device>,
    rows: usize,
    width: usize,
    shifted: bool,
    op: NormOp,
) -> [Vec<f32>; 4] {
    let fused_on = device.is_some();
    let device = device.cloned().unwrap_or_else(Device::flex).autodiff();
    let leaf = |v: Vec<f32>, shape: [usize; 1]| tensor_from_vec(v, shape, &device).require_grad();
    let x =
        tensor_from_vec(values(rows * width, 1, 2.0, 0.7), [rows, width], &device).require_grad();
    let gamma = leaf(values(width, 2, 0.5, 1.0), [width]);
    let beta = leaf(values(width, 3, 0.3, 0.0), [width]);
    let w = tensor_from_vec(values(rows * width, 4, 1.0, 0.0), [rows, width], &device);
    let shift = shifted.then(|| beta.clone());
    let out = if fused_on {
        fused::norm(x.clone(), gamma.clone(), shift, op)
            .unwrap_or_else(|_| panic!("the fused kernel did not run on {device:?}"))
    } else {
        composed(x.clone(), gamma.clone(), shift, op)
    };
    let grads = (out.clone() * w).sum().backward();
    let grad = |t: &Tensor<1>| t.grad(&grads).map(to_vec).unwrap_or_default();
    [
        to_vec(out),
        x.grad(&grads).map(to_vec).expect("input gradient"),
        grad(&gamma),
        grad(&beta),
    ]
}

fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Each of `got` within tolerance of `want`, relative to its largest
/// magnitude: the first `values` within `VALUE_RTOL`, the rest (the
/// gradients) within `GRAD_RTOL`.
fn assert_close(case: &str, names: &[&str], values: usize, got: &[Vec<f32>], want: &[Vec<f32>]) {
    for (i, name) in names.iter().enumerate() {
        assert_eq!(got[i].len(), want[i].len(), "{case}: {name} length");
        let scale = max_abs(&want[i]).max(1e-6);
        let worst = got[i]
            .iter()
            .zip(&want[i])
            .fold(0f32, |m, (g, w)| m.max((g - w).abs()));
        let tol = if i < values { VALUE_RTOL } else { GRAD_RTOL };
        assert!(
            worst <= tol * scale,
            "{case}: {name} differs by {worst} (largest {scale})"
        );
    }
}

#[test]
fn fused_norm_matches_the_composed_formula() {
    let Some(devices) = devices_under_test() else {
        return;
    };
    if !fused::enabled() {
        eprintln!("skipping: SOMNIUM_FUSED_KERNELS=0");
        return;
    }
    let names = [
        "output",
        "input gradient",
        "gamma gradient",
        "beta gradient",
    ];
    for (spec, device) in &devices {
        // 66,000 rows: more cubes than one grid dimension holds on some
        // devices (65,535 on lavapipe).
        for (rows, width) in [(5, 16), (3, 300), (40, 64), (66_000, 3)] {
            for (center, shifted, epsilon) in [(true, true, 1e-3), (false, false, 1e-4)] {
                for silu in [false, true] {
                    let op = NormOp {
                        epsilon,
                        center,
                        silu,
                    };
                    let want = run(None, rows, width, shifted, op);
                    let got = run(Some(device), rows, width, shifted, op);
                    let case = format!("{spec}, {rows} x {width}, {op:?}");
                    // Over 66,000 rows the scale's and shift's gradients are
                    // sums whose f32 rounding differs by summation order
                    // beyond any fixed tolerance; the values and the input's
                    // gradient are per row.
                    let compared = if rows > 1_000 { 2 } else { 4 };
                    assert_close(&case, &names[..compared], 1, &got, &want);
                }
            }
        }
        eprintln!("{spec}: the fused normalisation matches the composed formula");
    }
}

/// Unimix log-probabilities of `[rows, K]` logits and the logits'
/// gradient of `sum(out * w)`, and one-hot samples at fixed uniforms: by
/// the composed operations on flex, by the kernels on `Some(device)`.
fn categorical(device: Option<&Device>, rows: usize, classes: usize, unimix: f32) -> [Vec<f32>; 3] {
    let fused_on = device.is_some();
    let device = device.cloned().unwrap_or_else(Device::flex).autodiff();
    let logits = tensor_from_vec(
        values(rows * classes, 5, 4.0, 0.0),
        [rows, classes],
        &device,
    )
    .require_grad();
    let w = tensor_from_vec(
        values(rows * classes, 6, 1.0, 0.0),
        [rows, classes],
        &device,
    );
    let log_probs = if fused_on {
        fused::unimix_log_probs(logits.clone(), unimix)
            .unwrap_or_else(|_| panic!("the fused kernel did not run on {device:?}"))
    } else {
        let k = classes as f32;
        (softmax(logits.clone(), 1) * (1.0 - unimix) + unimix / k).log()
    };
    let uniform = tensor_from_vec(values(rows, 7, 0.5, 0.5), [rows, 1], &device);
    let dist = OneHotCategorical {
        log_probs: log_probs.clone(),
    };
    let sample = if fused_on {
        fused::sample_one_hot(log_probs.clone(), uniform)
            .unwrap_or_else(|_| panic!("the fused sampler did not run on {device:?}"))
    } else {
        somnium::nn::dist::sample_one_hot(dist.probs(), uniform)
    };
    let grads = (log_probs.clone() * w).sum().backward();
    [
        to_vec(log_probs),
        logits.grad(&grads).map(to_vec).expect("logits gradient"),
        to_vec(sample),
    ]
}

#[test]
fn fused_categorical_matches_the_composed_formula() {
    let Some(devices) = devices_under_test() else {
        return;
    };
    if !fused::enabled() {
        eprintln!("skipping: SOMNIUM_FUSED_KERNELS=0");
        return;
    }
    for (spec, device) in &devices {
        for (rows, classes, unimix) in [(64, 32, 0.01), (7, 300, 0.01), (9, 5, 0.0)] {
            let want = categorical(None, rows, classes, unimix);
            let got = categorical(Some(device), rows, classes, unimix);
            let case = format!("{spec}, {rows} x {classes}, unimix {unimix}");
            let names = ["log-probabilities", "logits gradient"];
            assert_close(&case, &names, 1, &got[..2], &want[..2]);
            assert_eq!(
                got[2], want[2],
                "{spec}, {rows} x {classes}: the samples differ"
            );
            let ones: f32 = got[2].iter().sum();
            assert_eq!(ones, rows as f32, "one class drawn per row");
        }
        eprintln!("{spec}: the fused categorical matches the composed formula");
    }
}

/// The normalised GRU update's output and the gradients of `z`, gamma,
/// beta and the state of `sum(out * w)`: composed on flex, by the kernels
/// on `Some(device)`.
fn norm_gru(device: Option<&Device>, rows: usize, units: usize, op: NormOp) -> [Vec<f32>; 5] {
    let fused_on = device.is_some();
    let device = device.cloned().unwrap_or_else(Device::flex).autodiff();
    let width = 3 * units;
    let leaf = |v: Vec<f32>, shape: [usize; 1]| tensor_from_vec(v, shape, &device).require_grad();
    let z =
        tensor_from_vec(values(rows * width, 8, 2.0, 0.3), [rows, width], &device).require_grad();
    let state =
        tensor_from_vec(values(rows * units, 9, 1.0, 0.0), [rows, units], &device).require_grad();
    let gamma = leaf(values(width, 10, 0.5, 1.0), [width]);
    let beta = leaf(values(width, 11, 0.3, 0.0), [width]);
    let w = tensor_from_vec(values(rows * units, 12, 1.0, 0.0), [rows, units], &device);
    let shift = op.center.then(|| beta.clone());
    let out = if fused_on {
        fused::norm_gru(z.clone(), gamma.clone(), shift, state.clone(), op)
            .unwrap_or_else(|_| panic!("the fused kernel did not run on {device:?}"))
    } else {
        let y = composed(z.clone(), gamma.clone(), shift, op);
        let [reset, candidate, update]: [Tensor<2>; 3] =
            y.chunk(3, 1).try_into().expect("three gates");
        let candidate = (sigmoid(reset) * candidate).tanh();
        let update = sigmoid(update - 1.0);
        state.clone() + update * (candidate - state.clone())
    };
    let grads = (out.clone() * w).sum().backward();
    let grad = |t: &Tensor<1>| t.grad(&grads).map(to_vec).unwrap_or_default();
    [
        to_vec(out),
        z.grad(&grads).map(to_vec).expect("z gradient"),
        grad(&gamma),
        grad(&beta),
        state.grad(&grads).map(to_vec).expect("state gradient"),
    ]
}

#[test]
fn fused_norm_gru_matches_the_composed_formula() {
    let Some(devices) = devices_under_test() else {
        return;
    };
    if !fused::enabled() {
        eprintln!("skipping: SOMNIUM_FUSED_KERNELS=0");
        return;
    }
    let names = [
        "output",
        "z gradient",
        "gamma gradient",
        "beta gradient",
        "state gradient",
    ];
    for (spec, device) in &devices {
        for (rows, units) in [(4, 8), (3, 200)] {
            for (center, epsilon) in [(true, 1e-3), (false, 1e-4)] {
                let op = NormOp {
                    epsilon,
                    center,
                    silu: false,
                };
                let want = norm_gru(None, rows, units, op);
                let got = norm_gru(Some(device), rows, units, op);
                let case = format!("{spec}, {rows} x {units}, {op:?}");
                assert_close(&case, &names, 1, &got, &want);
            }
        }
        eprintln!("{spec}: the fused GRU update matches the composed formula");
    }
}

/// Every parameter's gradient, in visiting order.
struct Grads<'a>(&'a GradientsParams, Vec<Vec<f32>>);

impl ModuleVisitor for Grads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let g = self.0.get::<D>(param.id).map(to_vec).unwrap_or_default();
        self.1.push(g);
    }
}

/// The RSSM's observe loop over 5 steps of 3 sequences (an episode starting
/// mid-way): the posteriors' `h`, `z` and log-probabilities, the priors,
/// the embeddings' gradient and every weight's gradient of a weighted sum
/// of them. `rssm` is moved to `device`; on flex it composes burn's
/// operations, on a GPU device it must run fused.
fn observe(rssm: &Rssm, device: &Device) -> Vec<Vec<f32>> {
    let (steps, batch, embed_width, actions) = (5, 3, 6, 3);
    let device = device.clone().autodiff();
    let rssm = rssm.clone().fork(&device);
    let rows = steps * batch;
    let input =
        |seed, width| tensor_from_vec(values(rows * width, seed, 1.0, 0.0), [rows, width], &device);
    let embed = input(13, embed_width).require_grad();
    let is_first = tensor_from_vec(
        (0..rows)
            .map(|r| if r == 2 * batch + 1 { 1.0 } else { 0.0 })
            .collect(),
        [rows],
        &device,
    );
    let start = RssmState {
        deter: Tensor::zeros([batch, 16], &device),
        stoch: Tensor::zeros([batch, 20], &device),
        log_probs: Tensor::zeros([batch, 4, 5], &device),
    };
    let on_gpu = device.clone().inner() != Device::flex();
    assert_eq!(
        rssm.observes_fused(&start),
        on_gpu,
        "fused only on the GPU device"
    );
    let mut noise = Noise::new(7);
    let (post, prior) = rssm.observe_sequence(
        &start,
        input(14, actions),
        embed.clone(),
        is_first,
        &mut noise,
    );
    let weigh = |x: Tensor<2>, seed| {
        let [r, c] = x.dims();
        (x * tensor_from_vec(values(r * c, seed, 1.0, 0.0), [r, c], &device)).sum()
    };
    let loss = weigh(post.deter.clone(), 15)
        + weigh(post.stoch.clone(), 16)
        + weigh(post.log_probs.clone().reshape([rows, 20]), 17)
        + weigh(prior.clone().reshape([rows, 20]), 18);
    let grads = loss.backward();
    let embed_grad = embed.grad(&grads).map(to_vec).expect("embedding gradient");
    let params = GradientsParams::from_grads(grads, &rssm);
    let mut visitor = Grads(&params, Vec::new());
    rssm.visit(&mut visitor);
    let mut out = vec![
        to_vec(post.deter),
        to_vec(post.stoch),
        to_vec(post.log_probs),
        to_vec(prior),
        embed_grad,
    ];
    out.extend(visitor.1);
    out
}

#[test]
fn fused_observe_loop_matches_the_composed_one() {
    let Some(devices) = devices_under_test() else {
        return;
    };
    if !fused::enabled() {
        eprintln!("skipping: SOMNIUM_FUSED_KERNELS=0");
        return;
    }
    let config = RssmConfig {
        deter: 16,
        hidden: 12,
        stoch: 4,
        classes: 5,
        ..RssmConfig::default()
    };
    for norm in [NormKind::Layer, NormKind::Rms] {
        let rssm = Rssm::new(&config, norm, 6, 3, &Device::flex());
        let want = observe(&rssm, &Device::flex());
        for (spec, device) in &devices {
            let got = observe(&rssm, device);
            let names: Vec<String> = [
                "h",
                "z",
                "posterior log-probabilities",
                "prior log-probabilities",
                "embedding gradient",
            ]
            .into_iter()
            .map(String::from)
            .chain((5..got.len()).map(|i| format!("weight {} gradient", i - 5)))
            .collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            assert_close(&format!("{spec}, {norm:?}"), &names, 4, &got, &want);
        }
    }
    eprintln!("the fused observe loop matches the composed one");
}
