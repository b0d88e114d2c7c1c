//! A causal GPT-style transformer over one token per time step, with a
//! key-value cache, as transformer world models (STORM, Zhang et al. 2023)
//! need: training attends over whole sequences under a causal mask;
//! imagination extends a cache one token at a time, so `H` imagined steps
//! cost `H` single-token passes instead of `H` passes over ever longer
//! sequences.
//!
//! The layout is STORM's (`sub_models/transformer_model.py`,
//! `attention_blocks.py`): learned absolute position embeddings added to
//! the tokens, a LayerNorm, then blocks of multi-head self-attention and a
//! ReLU feed-forward layer, each *post*-normalised (`norm(x + f(x))`,
//! LayerNorm epsilon 1e-6), query/key/value/output projections without
//! bias, dropout after attention weights and both sub-layers. Where STORM
//! caches each layer's inputs and projects the whole cache again every
//! step, this cache keeps the projected keys and values, which gives the
//! same outputs with one projection per token.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Initializer, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Tensor};

use super::mlp::linear;
use super::tensor_util::tensor_from_vec;

/// Sizes of a [`CausalTransformer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransformerShape {
    /// Token width.
    pub width: usize,
    /// Attention heads (the width must divide into them).
    pub heads: usize,
    /// Blocks.
    pub layers: usize,
    /// Width of the feed-forward layer.
    pub feed_forward: usize,
    /// Positions the embedding covers: the longest sequence or cache.
    pub max_length: usize,
    /// Dropout rate (training only).
    pub dropout: f64,
}

/// One post-norm block: attention, then feed-forward.
#[derive(Module, Debug)]
struct Block {
    query: Linear,
    key: Linear,
    value: Linear,
    out: Linear,
    attention_norm: LayerNorm,
    hidden: Linear,
    back: Linear,
    feed_forward_norm: LayerNorm,
    dropout: Dropout,
    heads: usize,
}

/// The keys and values every block has computed so far, `[B, heads, T,
/// width / heads]` each, and the number of positions `T` they hold.
#[derive(Debug, Clone)]
pub struct KvCache {
    keys: Vec<Tensor<4>>,
    values: Vec<Tensor<4>>,
    len: usize,
}

impl KvCache {
    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The cache of rows `indices` (for planners that branch or reorder
    /// states).
    pub fn select(&self, indices: Tensor<1, burn::tensor::Int>) -> Self {
        let pick = |ts: &[Tensor<4>]| {
            ts.iter()
                .map(|t| t.clone().select(0, indices.clone()))
                .collect()
        };
        KvCache {
            keys: pick(&self.keys),
            values: pick(&self.values),
            len: self.len,
        }
    }
}

/// The causal transformer.
#[derive(Module, Debug)]
pub struct CausalTransformer {
    /// Learned position embeddings `[max_length, width]`.
    positions: Param<Tensor<2>>,
    input_norm: LayerNorm,
    blocks: Vec<Block>,
    max_length: usize,
}

fn layer_norm(width: usize, device: &Device) -> LayerNorm {
    LayerNormConfig::new(width).with_epsilon(1e-6).init(device)
}

impl CausalTransformer {
    /// A transformer of `shape`.
    pub fn new(shape: TransformerShape, device: &Device) -> Self {
        let w = shape.width;
        assert!(
            w.is_multiple_of(shape.heads),
            "transformer: width {w} does not divide into {} heads",
            shape.heads
        );
        let blocks = (0..shape.layers)
            .map(|_| Block {
                query: linear(w, w, false, device),
                key: linear(w, w, false, device),
                value: linear(w, w, false, device),
                out: linear(w, w, false, device),
                attention_norm: layer_norm(w, device),
                hidden: linear(w, shape.feed_forward, true, device),
                back: linear(shape.feed_forward, w, true, device),
                feed_forward_norm: layer_norm(w, device),
                dropout: DropoutConfig::new(shape.dropout).init(),
                heads: shape.heads,
            })
            .collect();
        CausalTransformer {
            positions: Initializer::Normal {
                mean: 0.0,
                std: 1.0,
            }
            .init([shape.max_length, w], device),
            input_norm: layer_norm(w, device),
            blocks,
            max_length: shape.max_length,
        }
    }

    /// The longest sequence (or cache) the position embedding covers.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// An empty cache for `batch` rows.
    pub fn empty_cache(&self, batch: usize, device: &Device) -> KvCache {
        let empty = |block: &Block| {
            let w = block.query.weight.dims()[1];
            Tensor::<4>::zeros([batch, block.heads, 0, w / block.heads], device)
        };
        KvCache {
            keys: self.blocks.iter().map(empty).collect(),
            values: self.blocks.iter().map(empty).collect(),
            len: 0,
        }
    }

    /// Tokens at positions `start..start + T`, embedded and normalised.
    fn embed(&self, tokens: Tensor<3>, start: usize) -> Tensor<3> {
        let [_, t, w] = tokens.dims();
        assert!(
            start + t <= self.max_length,
            "transformer: positions up to {} asked of an embedding of {}",
            start + t,
            self.max_length
        );
        let positions = self.positions.val().slice([start..start + t, 0..w]);
        self.input_norm
            .forward(tokens + positions.unsqueeze_dim::<3>(0))
    }

    /// Every position's output, each attending to itself and the positions
    /// before it.
    ///
    /// # Shapes
    /// `tokens [B, T, W]` -> `[B, T, W]`
    pub fn forward(&self, tokens: Tensor<3>) -> Tensor<3> {
        let [_, t, _] = tokens.dims();
        let device = tokens.device();
        let mask = causal_mask(t, &device);
        let mut x = self.embed(tokens, 0);
        for block in &self.blocks {
            let (keys, values) = block.keys_values(x.clone());
            x = block.forward(x, keys, values, Some(mask.clone()));
        }
        x
    }

    /// The output for one new token per row at position `cache.len()`,
    /// extending `cache` with its keys and values.
    ///
    /// # Shapes
    /// `token [B, 1, W]` -> `[B, 1, W]`
    pub fn step(&self, token: Tensor<3>, cache: &mut KvCache) -> Tensor<3> {
        let mut x = self.embed(token, cache.len);
        for (i, block) in self.blocks.iter().enumerate() {
            let (key, value) = block.keys_values(x.clone());
            cache.keys[i] = Tensor::cat(vec![cache.keys[i].clone(), key], 2);
            cache.values[i] = Tensor::cat(vec![cache.values[i].clone(), value], 2);
            x = block.forward(x, cache.keys[i].clone(), cache.values[i].clone(), None);
        }
        cache.len += 1;
        x
    }
}

/// `0` where a query may see a key (the key is not later), `-1e9` elsewhere.
///
/// # Shapes
/// `[1, 1, T, T]`
fn causal_mask(t: usize, device: &Device) -> Tensor<4> {
    let values = (0..t)
        .flat_map(|q| (0..t).map(move |k| if k <= q { 0.0 } else { -1e9 }))
        .collect();
    tensor_from_vec(values, [1, 1, t, t], device)
}

impl Block {
    /// Split `[B, T, W]` into heads `[B, heads, T, W / heads]`.
    fn split_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [b, t, w] = x.dims();
        x.reshape([b, t, self.heads, w / self.heads])
            .swap_dims(1, 2)
    }

    /// The keys and values of `x [B, T, W]`, split into heads.
    fn keys_values(&self, x: Tensor<3>) -> (Tensor<4>, Tensor<4>) {
        (
            self.split_heads(self.key.forward(x.clone())),
            self.split_heads(self.value.forward(x)),
        )
    }

    /// Queries from `x [B, Tq, W]` attend to `keys`/`values` `[B, heads,
    /// Tk, W / heads]` (with an additive `mask [1, 1, Tq, Tk]`), then the
    /// feed-forward layer; both post-normalised.
    fn forward(
        &self,
        x: Tensor<3>,
        keys: Tensor<4>,
        values: Tensor<4>,
        mask: Option<Tensor<4>>,
    ) -> Tensor<3> {
        let [b, t, w] = x.dims();
        let depth = (w / self.heads) as f64;
        let queries = self.split_heads(self.query.forward(x.clone()));
        let mut scores = queries.matmul(keys.swap_dims(2, 3)) / depth.sqrt();
        if let Some(mask) = mask {
            scores = scores + mask;
        }
        let weights = self.dropout.forward(softmax(scores, 3));
        let attended = weights.matmul(values).swap_dims(1, 2).reshape([b, t, w]);
        let x = self
            .attention_norm
            .forward(self.dropout.forward(self.out.forward(attended)) + x);
        let hidden = self.back.forward(relu(self.hidden.forward(x.clone())));
        self.feed_forward_norm
            .forward(self.dropout.forward(hidden) + x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::to_vec;

    fn small(device: &Device) -> CausalTransformer {
        let shape = TransformerShape {
            width: 8,
            heads: 2,
            layers: 2,
            feed_forward: 16,
            max_length: 6,
            dropout: 0.1,
        };
        device.seed(3);
        CausalTransformer::new(shape, device)
    }

    fn tokens(values: impl Fn(usize) -> f32, t: usize, device: &Device) -> Tensor<3> {
        tensor_from_vec((0..2 * t * 8).map(values).collect(), [2, t, 8], device)
    }

    /// A token cannot change the outputs at positions before it.
    #[test]
    fn the_future_cannot_change_the_past() {
        let device = Device::flex();
        let model = small(&device);
        let a = tokens(|i| (i as f32 * 0.37).sin(), 5, &device);
        let mut changed = to_vec(a.clone());
        // Change position 3 of both rows (not by a constant, which the
        // input LayerNorm would remove).
        for row in 0..2 {
            for c in 0..8 {
                changed[(row * 5 + 3) * 8 + c] += c as f32 * 0.3 - 1.0;
            }
        }
        let b = tensor_from_vec(changed, [2, 5, 8], &device);
        let (out_a, out_b) = (to_vec(model.forward(a)), to_vec(model.forward(b)));
        for row in 0..2 {
            for t in 0..5 {
                let range = (row * 5 + t) * 8..(row * 5 + t + 1) * 8;
                let same = out_a[range.clone()]
                    .iter()
                    .zip(&out_b[range])
                    .all(|(x, y)| (x - y).abs() < 1e-6);
                assert_eq!(same, t < 3, "row {row}, position {t}");
            }
        }
    }

    /// Extending the cache one token at a time gives the outputs of the
    /// whole sequence at once; a selected cache carries on for its rows.
    #[test]
    fn cached_steps_equal_the_whole_sequence() {
        let device = Device::flex();
        let model = small(&device);
        let t = 6;
        let sequence = tokens(|i| (i as f32 * 0.11).cos(), t, &device);
        let whole = to_vec(model.forward(sequence.clone()));
        let mut cache = model.empty_cache(2, &device);
        let mut stepped = Vec::new();
        for s in 0..t {
            let token = sequence.clone().slice([0..2, s..s + 1, 0..8]);
            stepped.push(model.step(token, &mut cache));
        }
        assert_eq!(cache.len(), t);
        let stepped = to_vec(Tensor::cat(stepped, 1));
        for (x, y) in whole.iter().zip(&stepped) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }

        // Row 1 alone, from a cache of the first four positions.
        let mut cache = model.empty_cache(2, &device);
        for s in 0..4 {
            model.step(sequence.clone().slice([0..2, s..s + 1, 0..8]), &mut cache);
        }
        let mut row = cache.select(tensor_from_vec(vec![1.0], [1], &device).int());
        let out = to_vec(model.step(sequence.slice([1..2, 4..5, 0..8]), &mut row));
        let want = &whole[(6 + 4) * 8..(6 + 5) * 8];
        for (x, y) in out.iter().zip(want) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }
}
