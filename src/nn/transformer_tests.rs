//! Tests of the causal transformer and its cache.
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
        stepped.push(model.step(token, &mut cache, None));
    }
    assert_eq!(cache.columns(), t);
    let stepped = to_vec(Tensor::cat(stepped, 1));
    for (x, y) in whole.iter().zip(&stepped) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }

    // Row 1 alone, from a cache of the first four positions.
    let mut cache = model.empty_cache(2, &device);
    for s in 0..4 {
        model.step(
            sequence.clone().slice([0..2, s..s + 1, 0..8]),
            &mut cache,
            None,
        );
    }
    let mut row = cache.select(tensor_from_vec(vec![1.0], [1], &device).int());
    let out = to_vec(model.step(sequence.slice([1..2, 4..5, 0..8]), &mut row, None));
    let want = &whole[(6 + 4) * 8..(6 + 5) * 8];
    for (x, y) in out.iter().zip(want) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }
}

/// Assert two slices agree to 1e-5.
fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (x, y) in got.iter().zip(want) {
        assert!((x - y).abs() < 1e-5, "{what}: {x} vs {y}");
    }
}

/// Row `row` of `[B, T, 8]` outputs as a flat vector.
fn row_of(out: Tensor<3>, row: usize) -> Vec<f32> {
    let [_, t, w] = out.dims();
    to_vec(out.slice([row..row + 1, 0..t, 0..w]))
}

/// Positions `range` of `x [B, T, 8]`.
fn columns(x: &Tensor<3>, range: std::ops::Range<usize>) -> Tensor<3> {
    let [b, _, w] = x.dims();
    x.clone().slice([0..b, range, 0..w])
}

/// An episode that starts mid-sequence sees nothing before it and counts
/// its positions from 0; the cache holds the last episode only.
#[test]
fn episodes_in_one_sequence_do_not_see_each_other() {
    let device = Device::flex();
    let model = small(&device);
    let sequence = tokens(|i| (i as f32 * 0.23).sin(), 5, &device);
    let mut is_first = vec![0.0; 10];
    is_first[3] = 1.0; // row 0: an episode starts at position 3
    let (out, cache) = model.forward_segments(sequence.clone(), Some(&is_first));
    let early = model.forward(columns(&sequence, 0..3));
    let late = model.forward(columns(&sequence, 3..5));
    let got = row_of(out.clone(), 0);
    assert_close(&got[..24], &row_of(early, 0), "before the cut");
    assert_close(&got[24..], &row_of(late, 0), "after the cut");
    assert_close(
        &row_of(out, 1),
        &row_of(model.forward(sequence.clone()), 1),
        "uncut row",
    );
    assert_eq!(
        to_vec(cache.valid.clone()),
        [0., 0., 0., 1., 1., 1., 1., 1., 1., 1.]
    );
    // Going on from the cache is going on from each row's last episode.
    let next = tokens(|i| (i as f32 * 0.7).cos(), 1, &device);
    let mut cache = cache;
    let stepped = model.step(next.clone(), &mut cache, None);
    let whole = model.forward(Tensor::cat(vec![columns(&sequence, 3..5), next], 1));
    assert_close(
        &row_of(stepped, 0),
        &row_of(whole, 0)[16..],
        "stepped after the cut",
    );
}

/// A forgotten row starts again at position 0; an invalid token is never
/// attended to and does not move the row's position.
#[test]
fn forgotten_rows_start_afresh_and_invalid_tokens_are_skipped() {
    let device = Device::flex();
    let model = small(&device);
    let sequence = tokens(|i| (i as f32 * 0.41).cos(), 5, &device);
    let mut cache = model.empty_cache(2, &device);
    for s in 0..3 {
        model.step(columns(&sequence, s..s + 1), &mut cache, None);
    }
    cache.forget(tensor_from_vec(vec![0.0, 1.0], [2], &device));
    // Row 1's token 3 arrives invalid (its episode starts with an
    // observation), then token 4 is its first.
    let only_row_0 = tensor_from_vec(vec![1.0, 0.0], [2], &device);
    let out3 = model.step(columns(&sequence, 3..4), &mut cache, Some(only_row_0));
    let out4 = model.step(columns(&sequence, 4..5), &mut cache, None);
    assert_eq!(to_vec(cache.lengths().float()), [5.0, 1.0]);
    let whole = model.forward(sequence.clone());
    assert_close(
        &row_of(out3, 0),
        &row_of(whole.clone(), 0)[24..32],
        "row 0 at 3",
    );
    assert_close(
        &row_of(out4.clone(), 0),
        &row_of(whole, 0)[32..],
        "row 0 at 4",
    );
    let alone = model.forward(columns(&sequence, 4..5));
    assert_close(&row_of(out4, 1), &row_of(alone, 1), "row 1 afresh");
}

/// Caches of different lengths stacked together go on as each would alone.
#[test]
fn stacked_caches_of_different_lengths_go_on_as_their_own() {
    let device = Device::flex();
    let model = small(&device);
    let sequence = tokens(|i| (i as f32 * 0.19).sin(), 5, &device);
    let (mut long, mut short) = (model.empty_cache(2, &device), model.empty_cache(2, &device));
    for s in 0..4 {
        model.step(columns(&sequence, s..s + 1), &mut long, None);
    }
    for s in 0..2 {
        model.step(columns(&sequence, s..s + 1), &mut short, None);
    }
    let mut both = KvCache::cat(vec![long.clone(), short.clone()]);
    assert_eq!(both.columns(), 4);
    let a = tokens(|i| (i as f32 * 0.3).cos(), 1, &device);
    let b = tokens(|i| (i as f32 * 0.8).sin(), 1, &device);
    let out = model.step(Tensor::cat(vec![a.clone(), b.clone()], 0), &mut both, None);
    let want_long = model.step(a, &mut long, None);
    let want_short = model.step(b, &mut short, None);
    let [_, _, w] = out.dims();
    let got = to_vec(out);
    assert_close(&got[..2 * w], &to_vec(want_long), "the longer histories");
    assert_close(&got[2 * w..], &to_vec(want_short), "the shorter histories");
}

/// A cache rebuilt over its last columns is the cache of those tokens alone.
#[test]
fn a_rebuilt_cache_is_that_of_its_kept_tokens() {
    let device = Device::flex();
    let model = small(&device);
    let sequence = tokens(|i| (i as f32 * 0.29).cos(), 6, &device);
    let mut cache = model.empty_cache(2, &device);
    for s in 0..6 {
        model.step(columns(&sequence, s..s + 1), &mut cache, None);
    }
    let mut rebuilt = model.rebuild(&cache, 3);
    assert_eq!(to_vec(rebuilt.lengths().float()), [3.0, 3.0]);
    let next = tokens(|i| (i as f32 * 0.5).sin(), 1, &device);
    let out = model.step(next.clone(), &mut rebuilt, None);
    let whole = model.forward(Tensor::cat(vec![columns(&sequence, 3..6), next], 1));
    for row in 0..2 {
        assert_close(
            &row_of(out.clone(), row),
            &row_of(whole.clone(), row)[24..],
            "rebuilt",
        );
    }
}
