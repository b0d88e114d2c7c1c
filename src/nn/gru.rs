//! The deterministic core of the RSSM.
//!
//! [`NormGru`] is DreamerV3's (2023) GRU: one linear layer over the input
//! and previous state, normalised, split into reset, candidate and update
//! gates, with the update gate biased towards keeping the old state
//! (`sigmoid(u - 1)`). [`BlockGru`] is the 2025 variant: the state is split
//! into `blocks` groups and every weight matrix is block-diagonal, so a
//! large state costs `blocks` times fewer weights and FLOPs. Each block sees
//! the whole input but only its own slice of the state; the blocks mix
//! through the input, which the 2025 RSSM makes from the whole state
//! (`Rssm`'s block core), and through the normalisation of the hidden layer,
//! which spans all blocks. As in the reference, the gates are not
//! normalised.

use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};

use super::fused;
use super::mlp::linear;
use super::norm::{Norm, NormKind};

/// Combine gates into the next state: DreamerV3's GRU update rule.
///
/// # Shapes
/// `parts [B, 3H]` (reset, candidate, update), `state [B, H]` -> `[B, H]`
fn gru_update(parts: Tensor<2>, state: Tensor<2>) -> Tensor<2> {
    let [reset, candidate, update]: [Tensor<2>; 3] =
        parts.chunk(3, 1).try_into().expect("three gates");
    let reset = sigmoid(reset);
    let candidate = (reset * candidate).tanh();
    let update = sigmoid(update - 1.0);
    // u c + (1 - u) h, written with three operations instead of five.
    state.clone() + update * (candidate - state)
}

/// DreamerV3's normalised GRU cell.
#[derive(Module, Debug)]
pub struct NormGru {
    linear: Linear,
    norm: Norm,
}

impl NormGru {
    /// A cell with `input` features in and a state of `hidden` features.
    pub fn new(input: usize, hidden: usize, norm: NormKind, device: &Device) -> Self {
        NormGru {
            linear: linear(input + hidden, 3 * hidden, norm == NormKind::None, device),
            norm: norm.init(3 * hidden, device),
        }
    }

    /// The gate layer's weight `[I + H, 3H]` (rows for the input, then for
    /// the state) and its norm; `None` where the layer has a bias (no norm).
    pub fn weight_and_norm(&self) -> Option<(Tensor<2>, &Norm)> {
        match self.linear.bias {
            Some(_) => None,
            None => Some((self.linear.weight.val(), &self.norm)),
        }
    }

    /// One step.
    ///
    /// # Shapes
    /// `input [B, I]`, `state [B, H]` -> `[B, H]`
    pub fn forward(&self, input: Tensor<2>, state: Tensor<2>) -> Tensor<2> {
        let z = self
            .linear
            .forward(Tensor::cat(vec![input, state.clone()], 1));
        let (z, state) = match self.norm.fused_form(false) {
            Some((gamma, beta, op)) => match fused::norm_gru(z, gamma, beta, state, op) {
                Ok(next) => return next,
                Err(unfused) => unfused,
            },
            None => (z, state),
        };
        gru_update(self.norm.forward(z), state)
    }
}

/// A block-diagonal linear map: `groups` independent `[in/g -> out/g]`
/// matrices, plus a bias over all outputs.
#[derive(Module, Debug)]
pub struct BlockLinear {
    /// Weights `[G, in/G, out/G]`.
    weight: Param<Tensor<3>>,
    /// Bias `[out]`, zero at first.
    bias: Param<Tensor<1>>,
}

impl BlockLinear {
    /// `input` and `output` must be divisible by `groups`.
    pub fn new(input: usize, output: usize, groups: usize, device: &Device) -> Self {
        assert!(
            input.is_multiple_of(groups) && output.is_multiple_of(groups),
            "BlockLinear: {input} -> {output} not divisible into {groups} groups"
        );
        let (i, o) = (input / groups, output / groups);
        let weight = Initializer::XavierUniform { gain: 1.0 }.init_with(
            [groups, i, o],
            Some(i),
            Some(o),
            device,
        );
        BlockLinear {
            weight,
            bias: Param::from_tensor(Tensor::zeros([output], device)),
        }
    }

    /// # Shapes
    /// `[B, G * in/G]` -> `[B, G * out/G]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [g, i, o] = self.weight.dims();
        let [b, _] = x.dims();
        let x = x.reshape([b, g, i]).swap_dims(0, 1); // [G, B, in/G]
        let y = x.matmul(self.weight.val()); // [G, B, out/G]
        y.swap_dims(0, 1).reshape([b, g * o]) + self.bias.val().unsqueeze_dim(0)
    }
}

/// DreamerV3's (2025) block GRU: per block, the block's state slice and the
/// whole input pass through `layers` block-diagonal hidden layers (each
/// normalised over the whole state width), then a block-diagonal gate layer.
#[derive(Module, Debug)]
pub struct BlockGru {
    hidden: Vec<BlockLinear>,
    hidden_norms: Vec<Norm>,
    gates: BlockLinear,
    blocks: usize,
}

impl BlockGru {
    /// A cell with `input` features (shared by every block), a state of
    /// `hidden` features split into `blocks` groups, and `layers` hidden layers.
    pub fn new(
        input: usize,
        hidden: usize,
        blocks: usize,
        layers: usize,
        norm: NormKind,
        device: &Device,
    ) -> Self {
        assert!(
            hidden.is_multiple_of(blocks),
            "BlockGru: state width {hidden} not divisible into {blocks} blocks"
        );
        let per_block = hidden / blocks;
        let mut width = blocks * (per_block + input);
        let mut hidden_layers = Vec::new();
        let mut hidden_norms = Vec::new();
        for _ in 0..layers {
            hidden_layers.push(BlockLinear::new(width, hidden, blocks, device));
            hidden_norms.push(norm.init(hidden, device));
            width = hidden;
        }
        BlockGru {
            hidden: hidden_layers,
            hidden_norms,
            gates: BlockLinear::new(width, 3 * hidden, blocks, device),
            blocks,
        }
    }

    /// One step.
    ///
    /// # Shapes
    /// `input [B, I]`, `state [B, H]` -> `[B, H]`
    pub fn forward(&self, input: Tensor<2>, state: Tensor<2>) -> Tensor<2> {
        let g = self.blocks;
        let [b, h] = state.dims();
        let [_, i] = input.dims();
        // [B, G, H/G + I]: each block's state slice beside the whole input.
        let per_block_input = input.unsqueeze_dim::<3>(1).expand([b, g, i]);
        let mut x = Tensor::cat(
            vec![state.clone().reshape([b, g, h / g]), per_block_input],
            2,
        )
        .reshape([b, g * (h / g + i)]);
        for (layer, norm) in self.hidden.iter().zip(&self.hidden_norms) {
            x = norm.forward_silu(layer.forward(x));
        }
        let parts = self.gates.forward(x); // [B, G * 3H/G]
        // Gates are laid out per block; regroup them as [reset | candidate | update] over all blocks.
        let parts = parts
            .reshape([b, g, 3, h / g])
            .swap_dims(1, 2)
            .reshape([b, 3 * h]);
        gru_update(parts, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::{tensor_from_vec, to_vec};

    fn zero_weights<M: Module>(module: M) -> M {
        struct Zero;
        impl burn::module::ModuleMapper for Zero {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let (id, tensor, mapper) = param.consume();
                // Only weights matrices are zeroed; norm gains stay at one.
                let tensor = if D >= 2 { tensor.zeros_like() } else { tensor };
                Param::from_mapped_value(id, tensor, mapper)
            }
        }
        module.map(&mut Zero)
    }

    #[test]
    fn zero_weights_keep_sigmoid_of_minus_one_of_the_old_state() {
        // All gate pre-activations 0: reset 0.5, candidate tanh(0) = 0, update sigmoid(-1),
        // so h' = (1 - sigmoid(-1)) h = 0.7310586 h.
        let device = Device::flex();
        let state = tensor_from_vec(vec![1.0, -2.0, 0.5, 4.0], [1, 4], &device);
        let input = tensor_from_vec(vec![3.0, 3.0], [1, 2], &device);
        let keep = 1.0 - 1.0 / (1.0 + 1f32.exp());
        let gru = zero_weights(NormGru::new(2, 4, NormKind::Layer, &device));
        let block = zero_weights(BlockGru::new(2, 4, 2, 1, NormKind::Layer, &device));
        for out in [
            gru.forward(input.clone(), state.clone()),
            block.forward(input, state),
        ] {
            for (a, h) in to_vec(out).iter().zip([1.0f32, -2.0, 0.5, 4.0]) {
                assert!((a - keep * h).abs() < 1e-5, "{a} vs {}", keep * h);
            }
        }
    }

    #[test]
    fn block_gru_blocks_mix_only_through_the_hidden_norm() {
        // Change only block 1's slice (the last four entries): without a
        // hidden layer block 0 cannot tell; with one, the normalisation
        // over the whole state carries the change into every block.
        let device = Device::flex();
        let input = tensor_from_vec(vec![0.3, -0.1, 0.7], [1, 3], &device);
        let a = tensor_from_vec(
            vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
            [1, 8],
            &device,
        );
        let b = tensor_from_vec(
            vec![0.1, 0.2, 0.3, 0.4, -0.9, 0.0, 0.9, -0.3],
            [1, 8],
            &device,
        );
        let gates_only = BlockGru::new(3, 8, 2, 0, NormKind::Layer, &device);
        let ya = to_vec(gates_only.forward(input.clone(), a.clone()));
        let yb = to_vec(gates_only.forward(input.clone(), b.clone()));
        assert_eq!(&ya[..4], &yb[..4], "block 0 is unaffected by block 1");
        assert_ne!(&ya[4..], &yb[4..]);
        let with_hidden = BlockGru::new(3, 8, 2, 1, NormKind::Layer, &device);
        let ya = to_vec(with_hidden.forward(input.clone(), a));
        let yb = to_vec(with_hidden.forward(input, b));
        assert_ne!(&ya[..4], &yb[..4], "the norm spans both blocks");
    }

    #[test]
    fn block_linear_is_block_diagonal() {
        let device = Device::flex();
        let layer = BlockLinear::new(4, 6, 2, &device);
        let y1 = to_vec(layer.forward(tensor_from_vec(vec![1.0, 2.0, 0.0, 0.0], [1, 4], &device)));
        assert_eq!(
            &y1[3..],
            &[0.0, 0.0, 0.0],
            "group 1's output ignores group 0's input"
        );
    }
}
