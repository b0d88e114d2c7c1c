//! Ways to turn a node's Q-values into the scores its action selection
//! adds to the policy term.
//!
//! pUCT needs values in [0, 1] to be comparable with its exploration term;
//! MuZero normalises by the bounds over the whole tree, mctx by the node's
//! own value and its siblings. Gumbel search instead completes the missing
//! Q-values of unvisited actions with a mixed value estimate and scales them
//! by `(c_visit + max_b N(b)) * c_scale` (Danihelka et al. 2022, eq. 8).

use super::tree::{NodeId, Tree};

/// How Q-values are normalised for action selection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QTransform {
    /// MuZero (2020): normalised by the smallest and largest Q backed up
    /// anywhere in the tree. Unvisited actions score 0, or with
    /// `parent_mean` the normalised mean of the node's value and its visited
    /// children's Q (EfficientZero), which explores far better with few
    /// simulations.
    TreeMinMax {
        /// Complete unvisited actions with the parent's mean Q.
        parent_mean: bool,
    },
    /// mctx's default for pUCT: normalised by the bounds over the node's
    /// value and its visited children; unvisited actions score 0.
    ParentAndSiblings,
    /// Gumbel MuZero: unvisited actions take the mixed value, all are
    /// rescaled to [0, 1] and multiplied by `(maxvisit_init + max N) * value_scale`.
    CompletedByMixValue {
        /// `c_scale`, 0.1 in the paper.
        value_scale: f32,
        /// `c_visit`, 50 in the paper.
        maxvisit_init: f32,
    },
}

impl QTransform {
    /// Gumbel MuZero's transform with the paper's constants.
    pub const GUMBEL: QTransform = QTransform::CompletedByMixValue {
        value_scale: 0.1,
        maxvisit_init: 50.0,
    };

    /// The transformed Q-values of the edges of `node` in tree `b`, into `out [A]`.
    pub fn apply(&self, tree: &Tree, b: usize, node: NodeId, out: &mut [f32]) {
        tree.qvalues(b, node, out);
        let edges = tree.edges(b, node);
        let visits = &tree.children_visits[edges.clone()];
        match *self {
            QTransform::TreeMinMax { parent_mean } => {
                let (low, high) = tree.value_bounds[b];
                let normalise = |q: f32| {
                    if high > low {
                        (q - low) / (high - low)
                    } else {
                        q
                    }
                };
                let unvisited = if parent_mean {
                    let (sum, count) = out.iter().zip(visits).filter(|(_, n)| **n > 0).fold(
                        (tree.node_values[tree.at(b, node)], 1.0),
                        |(s, c), (q, _)| (s + q, c + 1.0),
                    );
                    normalise(sum / count)
                } else {
                    0.0
                };
                for (q, &n) in out.iter_mut().zip(visits) {
                    *q = if n == 0 { unvisited } else { normalise(*q) };
                }
            }
            QTransform::ParentAndSiblings => {
                let node_value = tree.node_values[tree.at(b, node)];
                let (mut low, mut high) = (node_value, node_value);
                for (&q, &n) in out.iter().zip(visits) {
                    if n > 0 {
                        low = low.min(q);
                        high = high.max(q);
                    }
                }
                let scale = (high - low).max(1e-8);
                for (q, &n) in out.iter_mut().zip(visits) {
                    let completed = if n > 0 { *q } else { low };
                    *q = (completed - low) / scale;
                }
            }
            QTransform::CompletedByMixValue {
                value_scale,
                maxvisit_init,
            } => {
                let raw_value = tree.raw_values[tree.at(b, node)];
                let probs = &tree.children_priors[edges];
                let mixed = mixed_value(raw_value, out, visits, probs);
                for (q, &n) in out.iter_mut().zip(visits) {
                    if n == 0 {
                        *q = mixed;
                    }
                }
                let low = out.iter().copied().fold(f32::INFINITY, f32::min);
                let high = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let max_visits = visits.iter().copied().max().unwrap_or(0) as f32;
                let scale = (maxvisit_init + max_visits) * value_scale / (high - low).max(1e-8);
                for q in out.iter_mut() {
                    *q = (*q - low) * scale;
                }
            }
        }
    }
}

/// The mixed value of Gumbel MuZero (appendix D): the raw value estimate
/// interpolated with the prior-weighted mean Q of the visited actions.
pub fn mixed_value(raw_value: f32, qvalues: &[f32], visits: &[u32], probs: &[f32]) -> f32 {
    let total_visits: f32 = visits.iter().map(|&n| n as f32).sum();
    let visited = || {
        qvalues
            .iter()
            .zip(visits)
            .zip(probs)
            .filter(|((_, n), _)| **n > 0)
            .map(|((&q, _), &p)| (q, p.max(f32::MIN_POSITIVE)))
    };
    let prob_mass: f32 = visited().map(|(_, p)| p).sum();
    let weighted_q: f32 = if prob_mass > 0.0 {
        visited().map(|(q, p)| p * q / prob_mass).sum()
    } else {
        0.0
    };
    (raw_value + total_visits * weighted_q) / (total_visits + 1.0)
}

/// Softmax of a row of logits.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; logits.len()];
    softmax_into(logits, &mut out);
    out
}

/// [`softmax`] into `out` (of the same length), without allocating.
pub fn softmax_into(logits: &[f32], out: &mut [f32]) {
    out.copy_from_slice(logits);
    softmax_in_place(out);
}

/// [`softmax`] of `values`, in place.
pub fn softmax_in_place(values: &mut [f32]) {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in values.iter_mut() {
        *v = (*v - max).exp();
    }
    let sum: f32 = values.iter().sum();
    for v in values.iter_mut() {
        *v /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_value_by_hand() {
        // Visited actions 0 and 2 with priors 0.5 and 0.25: the weighted Q is
        // (0.5 * 1 + 0.25 * 4) / 0.75 = 2; three visits in all, so the mixed
        // value is (raw 0 + 3 * 2) / 4 = 1.5.
        let mixed = mixed_value(0.0, &[1.0, 9.0, 4.0], &[2, 0, 1], &[0.5, 0.25, 0.25]);
        assert!((mixed - 1.5).abs() < 1e-6, "{mixed}");
        // With nothing visited it is the raw value.
        assert_eq!(mixed_value(0.7, &[5.0, 5.0], &[0, 0], &[0.5, 0.5]), 0.7);
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let p = softmax(&[0.0, (2.0f32).ln()]);
        assert!((p[0] - 1.0 / 3.0).abs() < 1e-6 && (p[1] - 2.0 / 3.0).abs() < 1e-6);
    }
}
