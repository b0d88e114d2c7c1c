//! Image resampling and grayscale conversion for the pixel wrappers.
//!
//! Resizing is separable: each axis is shrunk by area averaging (every output
//! pixel is the coverage-weighted mean of the input pixels under it, like
//! OpenCV's `INTER_AREA`) or enlarged by bilinear interpolation with
//! half-pixel centres (like `INTER_LINEAR`). Area averaging avoids the
//! aliasing that bilinear sampling causes when downscaling by large factors.

/// For each output index along one axis, the input indices and weights that form it.
fn axis_weights(input: usize, output: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = input as f64 / output as f64;
    (0..output)
        .map(|o| {
            if output < input {
                let (start, end) = (o as f64 * scale, (o + 1) as f64 * scale);
                let first = start.floor() as usize;
                let last = (end.ceil() as usize).min(input);
                (first..last)
                    .map(|i| {
                        let overlap = end.min(i as f64 + 1.0) - start.max(i as f64);
                        (i, (overlap / scale) as f32)
                    })
                    .filter(|&(_, w)| w > 0.0)
                    .collect()
            } else {
                let x = ((o as f64 + 0.5) * scale - 0.5).clamp(0.0, (input - 1) as f64);
                let i0 = x.floor() as usize;
                let frac = (x - i0 as f64) as f32;
                let i1 = (i0 + 1).min(input - 1);
                vec![(i0, 1.0 - frac), (i1, frac)]
            }
        })
        .collect()
}

/// Resize an `[height, width, channels]` image to `[out_height, out_width, channels]`.
///
/// # Panics
/// If `pixels` does not have `height * width * channels` entries or a size is 0.
pub(super) fn resize(
    pixels: &[u8],
    [height, width, channels]: [usize; 3],
    [out_height, out_width]: [usize; 2],
) -> Vec<u8> {
    assert_eq!(
        pixels.len(),
        height * width * channels,
        "resize: image of {} bytes is not [{height}, {width}, {channels}]",
        pixels.len()
    );
    assert!(
        height * width * out_height * out_width > 0,
        "resize: empty image"
    );
    if (height, width) == (out_height, out_width) {
        return pixels.to_vec();
    }
    // Horizontal pass: [H, W, C] -> [H, W', C].
    let cols = axis_weights(width, out_width);
    let mut rows_resized = vec![0.0f32; height * out_width * channels];
    for y in 0..height {
        for (x, weights) in cols.iter().enumerate() {
            for c in 0..channels {
                rows_resized[(y * out_width + x) * channels + c] = weights
                    .iter()
                    .map(|&(i, w)| w * f32::from(pixels[(y * width + i) * channels + c]))
                    .sum();
            }
        }
    }
    // Vertical pass: [H, W', C] -> [H', W', C].
    let rows = axis_weights(height, out_height);
    let row_len = out_width * channels;
    let mut out = Vec::with_capacity(out_height * row_len);
    for weights in &rows {
        for j in 0..row_len {
            let v: f32 = weights
                .iter()
                .map(|&(i, w)| w * rows_resized[i * row_len + j])
                .sum();
            out.push(v.round().clamp(0.0, 255.0) as u8);
        }
    }
    out
}

/// RGB to luma with ITU-R BT.601 weights (as OpenCV's `COLOR_RGB2GRAY`).
pub(super) fn grayscale(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .map(|p| {
            let y = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
            y.round().clamp(0.0, 255.0) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_downscale_averages_blocks() {
        // 2x4 single-channel image to 1x2: mean of each 2x2 block.
        let img = [0, 10, 100, 100, 20, 30, 100, 104];
        assert_eq!(resize(&img, [2, 4, 1], [1, 2]), vec![15, 101]);
    }

    #[test]
    fn non_integer_area_weights_sum_to_one() {
        for weights in axis_weights(7, 3) {
            let total: f32 = weights.iter().map(|w| w.1).sum();
            assert!((total - 1.0).abs() < 1e-6);
        }
        let flat = vec![77u8; 7 * 5 * 3];
        assert!(resize(&flat, [7, 5, 3], [3, 2]).iter().all(|&v| v == 77));
    }

    #[test]
    fn bilinear_upscale_interpolates() {
        let img = [0, 100];
        assert_eq!(resize(&img, [1, 2, 1], [1, 4]), vec![0, 25, 75, 100]);
    }

    #[test]
    fn grayscale_weights_channels() {
        assert_eq!(grayscale(&[255, 255, 255, 255, 0, 0]), vec![255, 76]);
    }
}
