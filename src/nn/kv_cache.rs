//! The history a causal transformer carries between single-token steps: per
//! block the keys and values of every token so far, plus the tokens
//! themselves and which of them each row may attend to.
//!
//! Rows of one cache need not share a history. A row's episode may have
//! started later than another's (its earlier columns are invalid to it),
//! and planners gather states of different depths into one batch
//! ([`KvCache::cat`] pads the shorter ones with invalid columns). So every
//! row keeps its own length, the position its next token takes, and a
//! validity mask over the columns; attention adds `-1e9` to invalid keys.
//! The tokens are kept so a full cache can be rebuilt over its latest
//! columns with positions counted afresh (learned absolute positions do not
//! slide).

use burn::tensor::{Device, Int, Tensor};

/// Keys, values and tokens of a batch of histories.
#[derive(Debug, Clone)]
pub struct KvCache {
    /// Per block, keys `[B, heads, T, width / heads]`.
    pub(crate) keys: Vec<Tensor<4>>,
    /// Per block, values `[B, heads, T, width / heads]`.
    pub(crate) values: Vec<Tensor<4>>,
    /// The transformer's input tokens `[B, T, width]`.
    pub(crate) tokens: Tensor<3>,
    /// 1 where a row may attend to a column `[B, T]`.
    pub(crate) valid: Tensor<2>,
    /// The position each row's next token takes: its valid columns `[B]`.
    pub(crate) lengths: Tensor<1, Int>,
}

impl KvCache {
    /// An empty history for `batch` rows of a transformer with `blocks`
    /// blocks, `heads` heads and tokens `width` wide.
    pub fn empty(batch: usize, blocks: usize, heads: usize, width: usize, device: &Device) -> Self {
        let empty = || Tensor::<4>::zeros([batch, heads, 0, width / heads], device);
        KvCache {
            keys: (0..blocks).map(|_| empty()).collect(),
            values: (0..blocks).map(|_| empty()).collect(),
            tokens: Tensor::zeros([batch, 0, width], device),
            valid: Tensor::zeros([batch, 0], device),
            lengths: Tensor::zeros([batch], device),
        }
    }

    /// Rows `B`.
    pub fn batch(&self) -> usize {
        self.tokens.dims()[0]
    }

    /// Columns `T` held (the longest row's history, and padding).
    pub fn columns(&self) -> usize {
        self.tokens.dims()[1]
    }

    /// Each row's length `[B]`.
    pub fn lengths(&self) -> Tensor<1, Int> {
        self.lengths.clone()
    }

    /// The history of rows `indices [N]`.
    pub fn select(&self, indices: Tensor<1, Int>) -> Self {
        let pick = |ts: &[Tensor<4>]| {
            ts.iter()
                .map(|t| t.clone().select(0, indices.clone()))
                .collect()
        };
        KvCache {
            keys: pick(&self.keys),
            values: pick(&self.values),
            tokens: self.tokens.clone().select(0, indices.clone()),
            valid: self.valid.clone().select(0, indices.clone()),
            lengths: self.lengths.clone().select(0, indices),
        }
    }

    /// The histories of `caches` stacked along the batch; shorter ones are
    /// padded on the right with invalid columns. Panics on an empty list.
    pub fn cat(caches: Vec<KvCache>) -> Self {
        assert!(!caches.is_empty(), "KvCache::cat: no caches");
        if caches.len() == 1 {
            return caches.into_iter().next().expect("one cache");
        }
        let columns = caches.iter().map(KvCache::columns).max().unwrap_or(0);
        let blocks = caches[0].keys.len();
        let padded: Vec<KvCache> = caches.into_iter().map(|c| c.padded(columns)).collect();
        let stack4 =
            |get: &dyn Fn(&KvCache) -> Tensor<4>| Tensor::cat(padded.iter().map(get).collect(), 0);
        KvCache {
            keys: (0..blocks)
                .map(|i| stack4(&|c: &KvCache| c.keys[i].clone()))
                .collect(),
            values: (0..blocks)
                .map(|i| stack4(&|c: &KvCache| c.values[i].clone()))
                .collect(),
            tokens: Tensor::cat(padded.iter().map(|c| c.tokens.clone()).collect(), 0),
            valid: Tensor::cat(padded.iter().map(|c| c.valid.clone()).collect(), 0),
            lengths: Tensor::cat(padded.iter().map(|c| c.lengths.clone()).collect(), 0),
        }
    }

    /// This history with invalid columns appended up to `columns`.
    fn padded(self, columns: usize) -> Self {
        let extra = columns - self.columns();
        if extra == 0 {
            return self;
        }
        let device = self.tokens.device();
        let pad4 = |t: Tensor<4>| {
            let [b, h, _, d] = t.dims();
            Tensor::cat(vec![t, Tensor::zeros([b, h, extra, d], &device)], 2)
        };
        let [b, _, w] = self.tokens.dims();
        KvCache {
            keys: self.keys.into_iter().map(pad4).collect(),
            values: self.values.into_iter().map(pad4).collect(),
            tokens: Tensor::cat(vec![self.tokens, Tensor::zeros([b, extra, w], &device)], 1),
            valid: Tensor::cat(vec![self.valid, Tensor::zeros([b, extra], &device)], 1),
            lengths: self.lengths,
        }
    }

    /// Forget the history of rows where `rows [B]` is 1: none of their
    /// columns stays valid and their next token takes position 0.
    pub fn forget(&mut self, rows: Tensor<1>) {
        let keep = rows.neg() + 1.0; // [B]
        self.valid = self.valid.clone() * keep.clone().unsqueeze_dim::<2>(1);
        self.lengths = self.lengths.clone() * keep.int();
    }

    /// The same history with gradients stopped.
    pub fn detach(self) -> Self {
        KvCache {
            keys: self.keys.into_iter().map(Tensor::detach).collect(),
            values: self.values.into_iter().map(Tensor::detach).collect(),
            tokens: self.tokens.detach(),
            valid: self.valid,
            lengths: self.lengths,
        }
    }

    /// The additive attention mask of a query that sees every valid column
    /// `[B, 1, 1, T]`: 0 where valid, -1e9 elsewhere.
    pub(crate) fn key_mask(&self) -> Tensor<4> {
        ((self.valid.clone() - 1.0) * 1e9).unsqueeze_dims::<4>(&[1, 2])
    }
}
