//! A tiny rasteriser for the classic-control frames: filled polygons,
//! circles and thick lines on an RGB buffer.
//!
//! Gymnasium draws with pygame at 500-600 pixels; we draw the same scenes at
//! 64-96 pixels, which is what pixel-based agents consume, without pulling in
//! a graphics crate. Shapes are sampled at pixel centres, without
//! anti-aliasing. Coordinates are in pixels, x to the right and y downwards.

use crate::Frame;

/// An RGB colour.
pub(super) type Rgb = [u8; 3];

/// White, the background of every classic-control scene.
pub(super) const WHITE: Rgb = [255, 255, 255];
/// Black.
pub(super) const BLACK: Rgb = [0, 0, 0];

/// An RGB image being drawn.
pub(super) struct Canvas {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    /// A canvas filled with `background`.
    pub(super) fn new(width: usize, height: usize, background: Rgb) -> Self {
        let rgb = background
            .iter()
            .copied()
            .cycle()
            .take(width * height * 3)
            .collect();
        Self { width, height, rgb }
    }

    fn set(&mut self, x: usize, y: usize, color: Rgb) {
        let i = (y * self.width + x) * 3;
        self.rgb[i..i + 3].copy_from_slice(&color);
    }

    /// Pixel ranges covering `[lo, hi]` along an axis of `n` pixels.
    fn span(lo: f32, hi: f32, n: usize) -> std::ops::Range<usize> {
        let start = lo.floor().max(0.0) as usize;
        let end = (hi.ceil().max(0.0) as usize).min(n);
        start..end.max(start)
    }

    /// Fill a simple polygon (even-odd rule).
    pub(super) fn fill_polygon(&mut self, points: &[(f32, f32)], color: Rgb) {
        if points.len() < 3 || points.iter().any(|(x, y)| !x.is_finite() || !y.is_finite()) {
            return;
        }
        let (min_x, max_x) = points.iter().fold((f32::MAX, f32::MIN), |(lo, hi), p| {
            (lo.min(p.0), hi.max(p.0))
        });
        let (min_y, max_y) = points.iter().fold((f32::MAX, f32::MIN), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
        for y in Self::span(min_y, max_y, self.height) {
            let py = y as f32 + 0.5;
            for x in Self::span(min_x, max_x, self.width) {
                let px = x as f32 + 0.5;
                if inside(points, px, py) {
                    self.set(x, y, color);
                }
            }
        }
    }

    /// Fill a disc of radius `r` around `(cx, cy)`.
    pub(super) fn fill_circle(&mut self, cx: f32, cy: f32, r: f32, color: Rgb) {
        for y in Self::span(cy - r, cy + r, self.height) {
            for x in Self::span(cx - r, cx + r, self.width) {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                if dx * dx + dy * dy <= r * r {
                    self.set(x, y, color);
                }
            }
        }
    }

    /// A straight segment `width` pixels thick, with square ends.
    pub(super) fn line(&mut self, from: (f32, f32), to: (f32, f32), width: f32, color: Rgb) {
        let (dx, dy) = (to.0 - from.0, to.1 - from.1);
        let len = (dx * dx + dy * dy).sqrt();
        let (nx, ny) = if len > 0.0 {
            (-dy / len * width / 2.0, dx / len * width / 2.0)
        } else {
            (width / 2.0, 0.0)
        };
        self.fill_polygon(
            &[
                (from.0 + nx, from.1 + ny),
                (to.0 + nx, to.1 + ny),
                (to.0 - nx, to.1 - ny),
                (from.0 - nx, from.1 - ny),
            ],
            color,
        );
    }

    /// The finished frame.
    pub(super) fn into_frame(self) -> Frame {
        Frame {
            height: self.height,
            width: self.width,
            rgb: self.rgb,
        }
    }
}

/// Whether `(px, py)` lies inside the polygon (even-odd crossing test).
fn inside(points: &[(f32, f32)], px: f32, py: f32) -> bool {
    let mut inside = false;
    let mut j = points.len() - 1;
    for i in 0..points.len() {
        let (xi, yi) = points[i];
        let (xj, yj) = points[j];
        if (yi > py) != (yj > py) && px < (xj - xi) * (py - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// The corners of a `length` x `width` bar starting at `origin` and pointing
/// at `angle` radians (0 = +x, counter-clockwise in a y-up world).
pub(super) fn bar(origin: (f64, f64), angle: f64, length: f64, width: f64) -> [(f64, f64); 4] {
    let (s, c) = angle.sin_cos();
    let h = width / 2.0;
    [(0.0, -h), (0.0, h), (length, h), (length, -h)]
        .map(|(u, v)| (origin.0 + u * c - v * s, origin.1 + u * s + v * c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(canvas: &Canvas, color: Rgb) -> usize {
        canvas.rgb.chunks(3).filter(|p| *p == color).count()
    }

    #[test]
    fn rectangle_covers_its_area() {
        let mut c = Canvas::new(10, 10, WHITE);
        c.fill_polygon(&[(2.0, 2.0), (6.0, 2.0), (6.0, 5.0), (2.0, 5.0)], BLACK);
        assert_eq!(count(&c, BLACK), 12);
        let frame = c.into_frame();
        assert_eq!(frame.rgb.len(), 300);
    }

    #[test]
    fn shapes_outside_the_canvas_are_clipped() {
        let mut c = Canvas::new(8, 8, WHITE);
        c.fill_circle(-20.0, 4.0, 3.0, BLACK);
        c.line((-5.0, -5.0), (20.0, 20.0), 2.0, BLACK);
        c.fill_polygon(&[(f32::NAN, 0.0), (1.0, 1.0), (2.0, 0.0)], BLACK);
        assert!(count(&c, BLACK) > 0 && count(&c, BLACK) < 64);
    }

    #[test]
    fn bar_points_along_its_angle() {
        let corners = bar((0.0, 0.0), std::f64::consts::FRAC_PI_2, 2.0, 0.2);
        assert!((corners[2].1 - 2.0).abs() < 1e-12 && (corners[2].0 + 0.1).abs() < 1e-12);
    }
}
