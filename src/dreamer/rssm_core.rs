//! The RSSM's deterministic step `h' = core(h, z, a)`, in the two designs.
//!
//! - 2023 (`core = "gru"`): one dense block reads `[z, a]`, and a
//!   normalised GRU updates `h` from it.
//! - 2025 (`core = "block_gru"`, the reference's `_core`): three dense
//!   blocks read `h`, `z` and `a` separately, and a block GRU updates `h`
//!   from their concatenation. Because the whole `h` enters every block's
//!   input, the blocks of the block-diagonal GRU mix at every step.
//!
//! Training observes whole sequences, so both also split off the part of
//! the step that depends on the actions alone, to be computed for all
//! steps at once ([`SequenceCore`]).

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::config::{CoreKind, RssmConfig};
use crate::nn::gru::{BlockGru, NormGru};
use crate::nn::mlp::{DenseBlock, DenseStyle, SplitDenseBlock};

/// The 2023 step: `h' = GRU(in([z, a]), h)`.
#[derive(Module, Debug)]
pub struct GruCore {
    input: DenseBlock,
    gru: NormGru,
    /// Width of `z`, the first columns of the input.
    stoch: usize,
}

/// The 2025 step: `h' = BlockGRU([in_h(h), in_z(z), in_a(a)], h)`.
#[derive(Module, Debug)]
pub struct BlockCore {
    deter_in: DenseBlock,
    stoch_in: DenseBlock,
    action_in: DenseBlock,
    gru: BlockGru,
}

/// The recurrent core, chosen by config.
// One per RSSM, never stored in bulk: boxing the larger variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Core {
    /// LayerNorm GRU over `[z, a]` (2023).
    Gru(GruCore),
    /// Block GRU over separate projections of `h`, `z` and `a` (2025).
    Block(BlockCore),
}

impl Core {
    /// The core for stochastic states of width `stoch` and actions of width
    /// `actions`; `config.hidden` wide inputs, `config.deter` wide state.
    pub fn new(
        config: &RssmConfig,
        norm: impl Into<DenseStyle>,
        stoch: usize,
        actions: usize,
        device: &Device,
    ) -> Self {
        let norm: DenseStyle = norm.into();
        let (d, h) = (config.deter, config.hidden);
        match config.core {
            CoreKind::Gru => Core::Gru(GruCore {
                input: DenseBlock::new(stoch + actions, h, norm, device),
                gru: NormGru::new(h, d, norm.norm, device),
                stoch,
            }),
            CoreKind::BlockGru => Core::Block(BlockCore {
                deter_in: DenseBlock::new(d, h, norm, device),
                stoch_in: DenseBlock::new(stoch, h, norm, device),
                action_in: DenseBlock::new(actions, h, norm, device),
                gru: BlockGru::new(3 * h, d, config.blocks, 1, norm.norm, device),
            }),
        }
    }

    /// One step.
    ///
    /// # Shapes
    /// `deter [B, D]`, `stoch [B, S * K]`, `action [B, A]` -> `[B, D]`
    pub fn step(&self, deter: Tensor<2>, stoch: Tensor<2>, action: Tensor<2>) -> Tensor<2> {
        match self {
            Core::Gru(core) => core.gru.forward(
                core.input.forward(Tensor::cat(vec![stoch, action], 1)),
                deter,
            ),
            Core::Block(core) => core.step(deter, stoch, core.action_in.forward(action)),
        }
    }

    /// The core for a whole sequence, its action inputs projected apart.
    pub fn for_sequence(&self) -> SequenceCore<'_> {
        match self {
            Core::Gru(core) => SequenceCore::Gru {
                input: core.input.split_input(core.stoch),
                gru: &core.gru,
            },
            Core::Block(core) => SequenceCore::Block(core),
        }
    }
}

impl BlockCore {
    /// One step from the action's projection `in_a(a)`.
    ///
    /// # Shapes
    /// `deter [B, D]`, `stoch [B, S * K]`, `action_part [B, hidden]` -> `[B, D]`
    fn step(&self, deter: Tensor<2>, stoch: Tensor<2>, action_part: Tensor<2>) -> Tensor<2> {
        let x = Tensor::cat(
            vec![
                self.deter_in.forward(deter.clone()),
                self.stoch_in.forward(stoch),
                action_part,
            ],
            1,
        );
        self.gru.forward(x, deter)
    }
}

/// A [`Core`] prepared for a sequence: [`Self::project_actions`] runs once
/// for all steps, [`Self::step`] once per step.
// One per observed sequence, on the stack.
#[allow(clippy::large_enum_variant)]
pub enum SequenceCore<'a> {
    /// The 2023 core with its input layer split into `z`'s and `a`'s columns.
    Gru {
        /// The input block, split after `z`.
        input: SplitDenseBlock<'a>,
        /// The GRU.
        gru: &'a NormGru,
    },
    /// The 2025 core, whose action block reads the action alone.
    Block(&'a BlockCore),
}

impl SequenceCore<'_> {
    /// The actions' share of every step's input.
    ///
    /// # Shapes
    /// `[N, A]` -> `[N, hidden]`
    pub fn project_actions(&self, actions: Tensor<2>) -> Tensor<2> {
        match self {
            SequenceCore::Gru { input, .. } => input.project_tail(actions),
            SequenceCore::Block(core) => core.action_in.forward(actions),
        }
    }

    /// One step from the action's share computed by [`Self::project_actions`].
    ///
    /// # Shapes
    /// `deter [B, D]`, `stoch [B, S * K]`, `action_part [B, hidden]` -> `[B, D]`
    pub fn step(&self, deter: Tensor<2>, stoch: Tensor<2>, action_part: Tensor<2>) -> Tensor<2> {
        match self {
            SequenceCore::Gru { input, gru } => {
                gru.forward(input.forward(stoch, action_part), deter)
            }
            SequenceCore::Block(core) => core.step(deter, stoch, action_part),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::norm::NormKind;
    use crate::nn::recorded::{RecordedParams, dreamerv3_2025, flat};
    use crate::nn::tensor_util::{tensor_from_vec, to_vec};

    /// The 2025 code's `RSSM._core` on random weights (biases and norm
    /// scales included), recorded by `scripts/record_dreamerv3_2025.py`:
    /// its parameters map one to one, in order and shape, onto the block
    /// core's, and the next deterministic state agrees.
    #[test]
    fn the_block_core_matches_the_2025_reference() {
        let recording = dreamerv3_2025();
        let r = &recording["block_gru_core"];
        let config = RssmConfig {
            deter: 16,
            hidden: 8,
            stoch: 4,
            classes: 3,
            core: CoreKind::BlockGru,
            blocks: 4,
            ..RssmConfig::default()
        };
        let style = DenseStyle {
            norm: NormKind::Rms,
            bias: true,
        };
        let device = Device::flex();
        let mut recorded = RecordedParams::new(&r["params"]);
        let core = Core::new(&config, style, 12, 2, &device).map(&mut recorded);
        assert!(recorded.is_used_up(), "every recorded parameter used");
        let input = |key: &str, width: usize| tensor_from_vec(flat(&r[key]), [3, width], &device);
        let next = core.step(input("deter", 16), input("stoch", 12), input("action", 2));
        let want = flat(&r["next_deter"]);
        for (g, w) in to_vec(next).iter().zip(&want) {
            assert!((g - w).abs() < 1e-5, "ours {g}, the reference's {w}");
        }
    }
}
