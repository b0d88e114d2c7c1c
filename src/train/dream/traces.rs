//! Vector observations drawn as a chart: one panel per feature with the
//! real trajectory beside the model's (symexp-ed back to the environment's
//! units), then the reward received beside the reward head's prediction
//! and the episode's continuation beside the continue head's probability.
//! The steps the model imagines open-loop are shaded, so where a
//! prediction leaves reality shows at a glance; the last panel shows
//! whether the model saw the end of the episode coming.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::Series;
use crate::nn::symlog::symexp_f32;

/// Panels beyond this many features are left out of the chart (the JSON
/// beside it has every feature's error).
const MAX_FEATURE_PANELS: usize = 24;

const PREDICTED: RGBColor = RGBColor(31, 119, 180);
const IMAGINED: RGBColor = RGBColor(220, 40, 40);

/// Write the chart of `series` to the SVG file `output`.
pub(super) fn write_chart(series: &Series, output: &Path) -> Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let width = series.real.first().map_or(0, Vec::len);
    let features = width.min(MAX_FEATURE_PANELS);
    let panels = features + 2;
    let columns = if panels <= 4 { 2 } else { 3 };
    let rows = panels.div_ceil(columns);
    let root =
        SVGBackend::new(output, (380 * columns as u32, 60 + 230 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| text(&e))?;
    let root = root
        .titled(
            "real (black) and the world model's prediction (blue); shaded steps imagined open-loop",
            ("sans-serif", 18),
        )
        .map_err(|e| text(&e))?;
    let areas = root.split_evenly((rows, columns));

    let over_time = |values: Vec<f32>| -> Vec<(f64, f64)> {
        values
            .into_iter()
            .enumerate()
            .map(|(t, v)| (t as f64, v as f64))
            .collect()
    };
    let feature =
        |of: &[Vec<f32>], i: usize| over_time(of.iter().map(|v| symexp_f32(v[i])).collect());
    for (i, area) in areas.iter().take(features).enumerate() {
        let title = format!("observation[{i}]");
        panel(
            area,
            &title,
            &feature(series.real, i),
            &feature(series.predicted, i),
            series.context,
        )?;
    }
    panel(
        &areas[features],
        "reward",
        &over_time(series.reward.to_vec()),
        &over_time(series.predicted_reward.to_vec()),
        series.context,
    )?;
    // The episode continues after every step but a terminal one.
    let steps = series.real.len();
    let continues = (0..steps)
        .map(|t| {
            if series.terminated && t + 1 == steps {
                0.0
            } else {
                1.0
            }
        })
        .collect();
    panel(
        &areas[features + 1],
        "continue",
        &over_time(continues),
        &over_time(series.predicted_continue.to_vec()),
        series.context,
    )?;
    root.present().map_err(|e| text(&e))
}

/// One panel: the real and predicted series against the step, imagined
/// steps (from `context` on) shaded.
fn panel(
    area: &DrawingArea<SVGBackend, Shift>,
    title: &str,
    real: &[(f64, f64)],
    predicted: &[(f64, f64)],
    context: usize,
) -> Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let (x_range, y_range) = extents(real.iter().chain(predicted));
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 15))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(52)
        .build_cartesian_2d(x_range.clone(), y_range.clone())
        .map_err(|e| text(&e))?;
    chart
        .configure_mesh()
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style(("sans-serif", 11))
        .draw()
        .map_err(|e| text(&e))?;
    let imagined_from = context as f64 - 0.5;
    if imagined_from < x_range.end {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(imagined_from, y_range.start), (x_range.end, y_range.end)],
                IMAGINED.mix(0.12).filled(),
            )))
            .map_err(|e| text(&e))?;
    }
    chart
        .draw_series(LineSeries::new(real.iter().copied(), BLACK.stroke_width(2)))
        .map_err(|e| text(&e))?;
    chart
        .draw_series(LineSeries::new(
            predicted.iter().copied(),
            PREDICTED.stroke_width(2),
        ))
        .map_err(|e| text(&e))?;
    Ok(())
}

/// The steps from -0.5 past the last, and the values padded by a tenth of
/// their span (a flat series gets a unit-wide band).
fn extents<'a>(
    points: impl Iterator<Item = &'a (f64, f64)>,
) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
    let (mut x_max, mut y_min, mut y_max) = (0.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points.filter(|(_, y)| y.is_finite()) {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 0.0);
    }
    let pad = if y_max > y_min {
        (y_max - y_min) * 0.1
    } else {
        0.5
    };
    (-0.5..x_max + 0.5, y_min - pad..y_max + pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extents_pad_the_values_and_give_a_flat_series_a_band() {
        let points = [(0.0, 1.0), (4.0, 3.0), (2.0, f64::NAN)];
        let (x, y) = extents(points.iter());
        assert_eq!(x, -0.5..4.5);
        assert!((y.start - 0.8).abs() < 1e-12 && (y.end - 3.2).abs() < 1e-12);
        let (_, y) = extents([(0.0, 2.0), (1.0, 2.0)].iter());
        assert_eq!(y, 1.5..2.5);
    }
}
