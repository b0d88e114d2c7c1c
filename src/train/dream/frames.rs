//! Image observations drawn as frames: real beside predicted, as an
//! animated GIF or a PNG strip.

use std::path::Path;

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, Rgb, RgbImage, RgbaImage};

/// Colours of MinAtar-style channels, in channel order (cycled beyond 10).
const PALETTE: [[u8; 3]; 10] = [
    [230, 25, 75],
    [60, 180, 75],
    [255, 225, 25],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
    [240, 50, 230],
    [210, 245, 60],
    [250, 190, 212],
];

/// Draws observations in the encoder's scaled units (about [-0.5, 0.5]).
pub(super) struct Painter {
    pub(super) shape: [usize; 3],
    pub(super) pixels: bool,
}

impl Painter {
    /// Pixels per observation cell: small grids (MinAtar's 10 x 10) are enlarged.
    fn zoom(&self) -> u32 {
        (128 / self.shape[0].max(self.shape[1])).clamp(1, 16) as u32
    }

    /// The RGB colour of cell `(y, x)` of a scaled observation.
    fn colour(&self, values: &[f32], y: usize, x: usize) -> [u8; 3] {
        let [_, w, c] = self.shape;
        let cell = &values[(y * w + x) * c..(y * w + x + 1) * c];
        let unit = |v: f32| ((v + 0.5).clamp(0.0, 1.0) * 255.0).round() as u8;
        if self.pixels && c == 3 {
            [unit(cell[0]), unit(cell[1]), unit(cell[2])]
        } else if self.pixels {
            [unit(cell[0]); 3]
        } else {
            // Channels of presence in [0, 1]: add up their colours.
            let mut rgb = [0.0f32; 3];
            for (ch, &v) in cell.iter().enumerate() {
                let strength = (v + 0.5).clamp(0.0, 1.0);
                for (sum, &p) in rgb.iter_mut().zip(&PALETTE[ch % PALETTE.len()]) {
                    *sum += strength * p as f32;
                }
            }
            rgb.map(|v| v.min(255.0) as u8)
        }
    }

    /// Paint `values` into `canvas` with its top-left corner at `(left, top)`.
    fn paint(&self, canvas: &mut RgbImage, values: &[f32], left: u32, top: u32) {
        let zoom = self.zoom();
        let [h, w, _] = self.shape;
        for y in 0..h {
            for x in 0..w {
                let colour = Rgb(self.colour(values, y, x));
                for dy in 0..zoom {
                    for dx in 0..zoom {
                        let (px, py) = (left + x as u32 * zoom + dx, top + y as u32 * zoom + dy);
                        canvas.put_pixel(px, py, colour);
                    }
                }
            }
        }
    }

    fn frame_size(&self) -> (u32, u32) {
        let zoom = self.zoom();
        (self.shape[1] as u32 * zoom, self.shape[0] as u32 * zoom)
    }

    /// One animation frame: real | predicted, under a bar that is green
    /// while the model sees real observations and red while it imagines.
    fn side_by_side(&self, real: &[f32], predicted: &[f32], imagined: bool) -> RgbImage {
        let (fw, fh) = self.frame_size();
        let (gap, bar) = (4, 6);
        let mut canvas = RgbImage::from_pixel(2 * fw + gap, fh + bar, Rgb([255, 255, 255]));
        let colour = if imagined {
            Rgb([220, 40, 40])
        } else {
            Rgb([40, 170, 60])
        };
        for x in 0..canvas.width() {
            for y in 0..bar - 2 {
                canvas.put_pixel(x, y, colour);
            }
        }
        self.paint(&mut canvas, real, 0, bar);
        self.paint(&mut canvas, predicted, fw + gap, bar);
        canvas
    }

    pub(super) fn gif(
        &self,
        real: &[Vec<f32>],
        predicted: &[Vec<f32>],
        context: usize,
        path: &Path,
    ) -> image::ImageResult<()> {
        let file = std::fs::File::create(path)?;
        let mut encoder = GifEncoder::new_with_speed(file, 10);
        encoder.set_repeat(Repeat::Infinite)?;
        let frames = real.iter().zip(predicted).enumerate().map(|(t, (r, p))| {
            let rgba: RgbaImage =
                image::DynamicImage::ImageRgb8(self.side_by_side(r, p, t >= context)).to_rgba8();
            Frame::from_parts(rgba, 0, 0, Delay::from_numer_denom_ms(150, 1))
        });
        encoder.encode_frames(frames)
    }

    /// Every step in a column: the real frame above the predicted one, with
    /// the context/imagined bar between them.
    pub(super) fn strip(
        &self,
        real: &[Vec<f32>],
        predicted: &[Vec<f32>],
        context: usize,
    ) -> RgbImage {
        let (fw, fh) = self.frame_size();
        let (gap, bar) = (2, 6);
        let columns = real.len() as u32;
        let mut canvas =
            RgbImage::from_pixel(columns * (fw + gap), 2 * fh + bar, Rgb([255, 255, 255]));
        for (t, (r, p)) in real.iter().zip(predicted).enumerate() {
            let left = t as u32 * (fw + gap);
            self.paint(&mut canvas, r, left, 0);
            let colour = if t >= context {
                Rgb([220, 40, 40])
            } else {
                Rgb([40, 170, 60])
            };
            for x in left..left + fw {
                for y in fh + 1..fh + bar - 1 {
                    canvas.put_pixel(x, y, colour);
                }
            }
            self.paint(&mut canvas, p, left, fh + bar);
        }
        canvas
    }
}
