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
use burn::tensor::{Device, Int, Tensor};

use super::kv_cache::KvCache;
use super::mlp::linear;
use super::tensor_util::{int_tensor_from_vec, tensor_from_vec};

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
        let block = &self.blocks[0];
        let width = block.query.weight.dims()[1];
        KvCache::empty(batch, self.blocks.len(), block.heads, width, device)
    }

    /// Tokens at `positions`, embedded and normalised.
    ///
    /// # Shapes
    /// `tokens [B, T, W]`, `positions [B, T]` -> `[B, T, W]`
    fn embed(&self, tokens: Tensor<3>, positions: Tensor<2, Int>) -> Tensor<3> {
        let [b, t, w] = tokens.dims();
        let embedded = self
            .positions
            .val()
            .select(0, positions.reshape([b * t]))
            .reshape([b, t, w]);
        self.input_norm.forward(tokens + embedded)
    }

    /// Every position's output, each attending to itself and the positions
    /// before it.
    ///
    /// # Shapes
    /// `tokens [B, T, W]` -> `[B, T, W]`
    pub fn forward(&self, tokens: Tensor<3>) -> Tensor<3> {
        self.forward_segments(tokens, None).0
    }

    /// Every position's output over sequences cut into episodes: a token
    /// attends to itself and the earlier tokens of its own episode, and
    /// positions count from each episode's first token. `is_first`
    /// (batch-major `[B * T]`, 1 where an episode starts; the first column
    /// always starts one) marks the cuts; `None` cuts nowhere. Also returns
    /// the cache of each row's last episode, to go on from.
    ///
    /// # Shapes
    /// `tokens [B, T, W]` -> `[B, T, W]`
    pub fn forward_segments(
        &self,
        tokens: Tensor<3>,
        is_first: Option<&[f32]>,
    ) -> (Tensor<3>, KvCache) {
        let [b, t, _] = tokens.dims();
        self.check_length(t);
        let device = tokens.device();
        let segments = Segments::new(b, t, is_first);
        let positions = int_tensor_from_vec(segments.positions(), [b, t], &device);
        let mask = tensor_from_vec(segments.mask(), [b, 1, t, t], &device);
        let valid = tensor_from_vec(segments.last_valid(), [b, t], &device);
        self.run(tokens, positions, mask, valid)
    }

    /// The output for one new token per row at each row's next position,
    /// extending `cache` with it. Where `valid [B]` is 0 (a row whose
    /// episode starts with this token's observation, not with a token) the
    /// token is stored invalid and the row's length does not grow;
    /// `None` means valid everywhere.
    ///
    /// # Shapes
    /// `token [B, 1, W]` -> `[B, 1, W]`
    pub fn step(
        &self,
        token: Tensor<3>,
        cache: &mut KvCache,
        valid: Option<Tensor<1>>,
    ) -> Tensor<3> {
        let [b, _, _] = token.dims();
        self.check_length(cache.columns() + 1);
        let device = token.device();
        let valid = valid.unwrap_or_else(|| Tensor::ones([b], &device));
        let mut x = self.embed(token.clone(), cache.lengths.clone().unsqueeze_dim::<2>(1));
        cache.tokens = Tensor::cat(vec![cache.tokens.clone(), token], 1);
        cache.valid = Tensor::cat(vec![cache.valid.clone(), valid.clone().unsqueeze_dim(1)], 1);
        cache.lengths = cache.lengths.clone() + valid.int();
        let mask = cache.key_mask();
        for (i, block) in self.blocks.iter().enumerate() {
            let (key, value) = block.keys_values(x.clone());
            cache.keys[i] = Tensor::cat(vec![cache.keys[i].clone(), key], 2);
            cache.values[i] = Tensor::cat(vec![cache.values[i].clone(), value], 2);
            x = block.forward(
                x,
                cache.keys[i].clone(),
                cache.values[i].clone(),
                Some(mask.clone()),
            );
        }
        x
    }

    /// The history of `cache`'s last `keep` columns, recomputed with each
    /// row's positions counted from its first valid column there: how a
    /// history that has filled the position embedding goes on (the
    /// earlier columns are forgotten).
    pub fn rebuild(&self, cache: &KvCache, keep: usize) -> KvCache {
        let (b, columns) = (cache.batch(), cache.columns());
        let keep = keep.min(columns);
        let from = columns - keep;
        let width = cache.tokens.dims()[2];
        let tokens = cache.tokens.clone().slice([0..b, from..columns, 0..width]);
        let valid = cache.valid.clone().slice([0..b, from..columns]);
        let positions = (valid.clone().cumsum(1) - 1.0).clamp_min(0.0).int();
        let device = tokens.device();
        let invalid_keys = ((valid.clone() - 1.0) * 1e9).unsqueeze_dims::<4>(&[1, 2]);
        let mask = causal_mask(keep, &device) + invalid_keys;
        self.run(tokens, positions, mask, valid).1
    }

    /// The blocks over `tokens` at `positions` under the additive `mask`;
    /// the outputs, and the cache with validity `valid [B, T]`.
    fn run(
        &self,
        tokens: Tensor<3>,
        positions: Tensor<2, Int>,
        mask: Tensor<4>,
        valid: Tensor<2>,
    ) -> (Tensor<3>, KvCache) {
        let mut x = self.embed(tokens.clone(), positions);
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        for block in &self.blocks {
            let (k, v) = block.keys_values(x.clone());
            x = block.forward(x, k.clone(), v.clone(), Some(mask.clone()));
            keys.push(k);
            values.push(v);
        }
        let lengths = valid.clone().sum_dim(1).reshape([tokens.dims()[0]]).int();
        let cache = KvCache {
            keys,
            values,
            tokens,
            valid,
            lengths,
        };
        (x, cache)
    }

    fn check_length(&self, t: usize) {
        assert!(
            t <= self.max_length,
            "transformer: {t} positions asked of an embedding of {}",
            self.max_length
        );
    }
}

/// Episodes within a batch of token sequences, from their first-step flags.
struct Segments {
    /// The episode of each token, counted within its row, batch-major.
    ids: Vec<usize>,
    /// The position of each token within its episode, batch-major.
    positions: Vec<i64>,
    batch: usize,
    length: usize,
}

impl Segments {
    fn new(batch: usize, length: usize, is_first: Option<&[f32]>) -> Self {
        let (mut ids, mut positions) = (Vec::new(), Vec::new());
        for row in 0..batch {
            let (mut id, mut position) = (0, 0);
            for t in 0..length {
                let first = is_first.is_some_and(|f| f[row * length + t] > 0.5);
                if t > 0 && first {
                    id += 1;
                    position = 0;
                }
                ids.push(id);
                positions.push(position);
                position += 1;
            }
        }
        Segments {
            ids,
            positions,
            batch,
            length,
        }
    }

    fn positions(&self) -> Vec<i64> {
        self.positions.clone()
    }

    /// `[B, 1, T, T]`: 0 where a query sees a key of its own episode no
    /// later than itself, -1e9 elsewhere.
    fn mask(&self) -> Vec<f32> {
        let t = self.length;
        let mut mask = Vec::with_capacity(self.batch * t * t);
        for row in 0..self.batch {
            let ids = &self.ids[row * t..(row + 1) * t];
            for q in 0..t {
                mask.extend((0..t).map(|k| {
                    if k <= q && ids[k] == ids[q] {
                        0.0
                    } else {
                        -1e9
                    }
                }));
            }
        }
        mask
    }

    /// `[B, T]`: 1 on the tokens of each row's last episode.
    fn last_valid(&self) -> Vec<f32> {
        let t = self.length;
        (0..self.batch)
            .flat_map(|row| {
                let ids = &self.ids[row * t..(row + 1) * t];
                let last = ids[t - 1];
                ids.iter()
                    .map(move |&id| if id == last { 1.0 } else { 0.0 })
            })
            .collect()
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
#[path = "transformer_tests.rs"]
mod tests;
