//! Learning curves from runs' `metrics.jsonl`: `somnium plot`.
//!
//! A researcher compares runs by one metric against environment steps
//! (`eval/return` by default). [`read_curve`] takes a run's points for a
//! metric; [`write_svg`] draws several runs on one chart (SVG needs no
//! font files, so the plot works on a bare machine and renders in a
//! browser or a Markdown page); [`markdown_table`] prints the same points
//! as a table for `docs/results.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use serde_json::Value;

use super::read_jsonl;
use crate::{Error, Result};

/// One run's values of one metric, in step order.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// The legend entry (by default the run directory's name).
    pub label: String,
    /// `(environment step, value)`.
    pub points: Vec<(f64, f64)>,
    /// A band drawn shaded around the line, `(step, lower, upper)`, e.g.
    /// a confidence interval across seeds; empty for none.
    pub band: Vec<(f64, f64, f64)>,
}

/// The `metric` values logged in `run/metrics.jsonl`. A run resumed from
/// a checkpoint logs some steps twice (those after the checkpoint, before
/// the kill); the later value is kept.
pub fn read_curve(run: &Path, metric: &str) -> Result<Curve> {
    let path = run.join("metrics.jsonl");
    let rows = read_jsonl(&path)?;
    let mut by_step = BTreeMap::new();
    let mut names = BTreeSet::new();
    for row in &rows {
        names.extend(row.keys().filter(|k| *k != "step").cloned());
        let (Some(step), Some(value)) = (row.get("step").and_then(Value::as_u64), row.get(metric))
        else {
            continue;
        };
        // null marks a non-finite value: a gap, not a point.
        if let Some(value) = value.as_f64() {
            by_step.insert(step, value);
        }
    }
    if by_step.is_empty() {
        let known: Vec<_> = names.into_iter().collect();
        let known = if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        };
        return Err(Error::Metrics {
            path,
            problem: format!("no values of `{metric}`; the metrics logged are: {known}"),
        });
    }
    let label = run
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| run.display().to_string());
    Ok(Curve {
        label,
        points: by_step
            .into_iter()
            .map(|(step, value)| (step as f64, value))
            .collect(),
        band: Vec::new(),
    })
}

/// Draw `curves` of `metric` against environment steps into the SVG file
/// `output` (its directory is created).
pub fn write_svg(curves: &[Curve], metric: &str, title: &str, output: &Path) -> Result<()> {
    write_chart(curves, ("environment steps", metric), title, output)
}

/// Draw `curves` (with their bands) against any x axis into the SVG file
/// `output`; `axes` are the x and y axes' descriptions.
pub fn write_chart(curves: &[Curve], axes: (&str, &str), title: &str, output: &Path) -> Result<()> {
    let (x_range, y_range) = ranges(curves);
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    }
    draw(curves, axes, title, output, x_range, y_range).map_err(|problem| {
        Error::io(
            "writing plot",
            PathBuf::from(output),
            std::io::Error::other(problem),
        )
    })
}

/// The axes' extents: steps from 0, values padded by a twentieth of their span.
fn ranges(curves: &[Curve]) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
    let bands = curves
        .iter()
        .flat_map(|c| c.band.iter().flat_map(|&(x, lo, hi)| [(x, lo), (x, hi)]));
    let points = curves
        .iter()
        .flat_map(|c| c.points.iter().copied())
        .chain(bands);
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in points {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.05).max(1e-3 * y_max.abs().max(1.0));
    (0.0..x_max, y_min - pad..y_max + pad)
}

fn draw(
    curves: &[Curve],
    (x_desc, metric): (&str, &str),
    title: &str,
    output: &Path,
    x_range: std::ops::Range<f64>,
    y_range: std::ops::Range<f64>,
) -> std::result::Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let corner = legend_corner(curves, &x_range, &y_range);
    // Whole numbers for returns in the hundreds, decimals for small losses.
    let decimals = if y_range.end - y_range.start >= 20.0 {
        0
    } else {
        2
    };
    let x_span = x_range.end - x_range.start;
    let root = SVGBackend::new(output, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| text(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .margin_right(36)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x_range, y_range)
        .map_err(|e| text(&e))?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(metric)
        .x_label_formatter(&|x| match x_span >= 20.0 {
            true => format!("{x:.0}"),
            false => format!("{x:.2}"),
        })
        .y_label_formatter(&|y| format!("{y:.decimals$}"))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(|e| text(&e))?;
    for (i, curve) in curves.iter().enumerate() {
        let color = COLOURS[i % COLOURS.len()].to_rgba();
        if !curve.band.is_empty() {
            let outline: Vec<(f64, f64)> = curve
                .band
                .iter()
                .map(|&(x, _, hi)| (x, hi))
                .chain(curve.band.iter().rev().map(|&(x, lo, _)| (x, lo)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    color.mix(0.2).filled(),
                )))
                .map_err(|e| text(&e))?;
        }
        chart
            .draw_series(LineSeries::new(
                curve.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| text(&e))?
            .label(curve.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                curve
                    .points
                    .iter()
                    .map(|&point| Circle::new(point, 3, color.filled())),
            )
            .map_err(|e| text(&e))?;
    }
    chart
        .configure_series_labels()
        .position(corner)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| text(&e))?;
    root.present().map_err(|e| text(&e))
}

/// Ten colours that stay apart on white (Tableau's palette).
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The corner whose legend-sized box (two fifths of the width, a third of
/// the height) covers the fewest points along the curves (each segment
/// sampled at 16 points), so the legend hides as little data as it can.
fn legend_corner(
    curves: &[Curve],
    x_range: &std::ops::Range<f64>,
    y_range: &std::ops::Range<f64>,
) -> SeriesLabelPosition {
    let unit = |v: f64, r: &std::ops::Range<f64>| (v - r.start) / (r.end - r.start).max(1e-12);
    let mut samples = Vec::new();
    for curve in curves {
        for pair in curve.points.windows(2) {
            let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
            samples.extend((0..16).map(|k| {
                let f = k as f64 / 16.0;
                (x0 + f * (x1 - x0), y0 + f * (y1 - y0))
            }));
        }
        samples.extend(curve.points.last().copied());
    }
    let covered = |right: bool, upper: bool| {
        samples
            .iter()
            .filter(|&&(x, y)| {
                let (u, v) = (unit(x, x_range), unit(y, y_range));
                (if right { u >= 0.6 } else { u <= 0.4 })
                    && (if upper {
                        v >= 2.0 / 3.0
                    } else {
                        v <= 1.0 / 3.0
                    })
            })
            .count()
    };
    [
        (SeriesLabelPosition::LowerRight, covered(true, false)),
        (SeriesLabelPosition::UpperLeft, covered(false, true)),
        (SeriesLabelPosition::LowerLeft, covered(false, false)),
        (SeriesLabelPosition::UpperRight, covered(true, true)),
    ]
    .into_iter()
    .min_by_key(|&(_, count)| count)
    .map(|(corner, _)| corner)
    .expect("four corners")
}

/// The curves as a Markdown table: one row per step any curve logged, one
/// column per curve (empty where a curve has no value at that step).
pub fn markdown_table(curves: &[Curve], metric: &str) -> String {
    let mut steps: Vec<u64> = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|&(x, _)| x as u64))
        .collect();
    steps.sort_unstable();
    steps.dedup();
    let mut out = format!("| env steps | {} |\n", {
        let labels: Vec<_> = curves
            .iter()
            .map(|c| format!("{} ({metric})", c.label))
            .collect();
        labels.join(" | ")
    });
    out += &format!("|---:|{}\n", "---:|".repeat(curves.len()));
    for step in steps {
        let cells: Vec<String> = curves
            .iter()
            .map(|c| {
                c.points
                    .iter()
                    .find(|&&(x, _)| x as u64 == step)
                    .map(|&(_, y)| format!("{y:.1}"))
                    .unwrap_or_default()
            })
            .collect();
        out += &format!("| {step} | {} |\n", cells.join(" | "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn run_with(lines: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut file = std::fs::File::create(dir.path().join("metrics.jsonl")).unwrap();
        for line in lines {
            writeln!(file, "{line}").unwrap();
        }
        dir
    }

    #[test]
    fn a_curve_keeps_the_metric_in_step_order_and_the_later_of_repeated_steps() {
        let run = run_with(&[
            r#"{"step":1000,"eval/return":20.0,"loss/reward":1.0}"#,
            r#"{"step":2000,"episode/return":30.0}"#,
            r#"{"step":3000,"eval/return":300.0}"#,
            // Resumed from the 2,000-step checkpoint: step 3,000 again.
            r#"{"step":3000,"eval/return":310.0}"#,
            r#"{"step":4000,"eval/return":null}"#,
            r#"{"step":2500,"eval/return":150.0}"#,
        ]);
        let curve = read_curve(run.path(), "eval/return").unwrap();
        assert_eq!(
            curve.points,
            vec![(1000.0, 20.0), (2500.0, 150.0), (3000.0, 310.0)]
        );
    }

    #[test]
    fn a_metric_never_logged_is_an_error_that_lists_the_logged_ones() {
        let run = run_with(&[r#"{"step":1000,"episode/return":20.0,"loss/reward":1.0}"#]);
        let message = read_curve(run.path(), "eval/return")
            .unwrap_err()
            .to_string();
        assert!(message.contains("metrics.jsonl"), "{message}");
        assert!(message.contains("no values of `eval/return`"), "{message}");
        assert!(message.contains("episode/return, loss/reward"), "{message}");
        let missing = tempfile::tempdir().unwrap();
        let message = read_curve(missing.path(), "eval/return")
            .unwrap_err()
            .to_string();
        assert!(message.contains("reading metrics"), "{message}");
    }

    #[test]
    fn the_svg_holds_one_line_per_run_with_its_label() {
        let curves = vec![
            Curve {
                label: "first-run".into(),
                points: vec![(0.0, 10.0), (1000.0, 200.0), (2000.0, 500.0)],
                band: Vec::new(),
            },
            Curve {
                label: "second-run".into(),
                points: vec![(0.0, 20.0), (1000.0, 100.0)],
                band: Vec::new(),
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("plots/eval.svg");
        write_svg(&curves, "eval/return", "CartPole", &output).unwrap();
        let svg = std::fs::read_to_string(&output).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        for text in ["first-run", "second-run", "CartPole", "environment steps"] {
            assert!(svg.contains(text), "no `{text}` in the plot");
        }
        // The series and their legend marks are the 2-pixel polylines (the
        // mesh's are 1 pixel).
        let series = svg
            .split("<polyline")
            .skip(1)
            .filter(|element| {
                element
                    .split('>')
                    .next()
                    .unwrap()
                    .contains("stroke-width=\"2\"")
            })
            .count();
        assert_eq!(series, 2 + 2, "two lines, two legend marks");
        assert_eq!(svg.matches("<circle").count(), 5, "one marker per point");
    }

    #[test]
    fn the_legend_goes_to_the_emptiest_corner() {
        let rising = Curve {
            label: "rising".into(),
            points: vec![(0.0, 0.0), (1000.0, 1000.0)],
            band: Vec::new(),
        };
        let (x, y) = (0.0..1000.0, 0.0..1000.0);
        // A rising diagonal passes through the lower-left and upper-right boxes.
        let corner = legend_corner(std::slice::from_ref(&rising), &x, &y);
        assert!(
            matches!(
                corner,
                SeriesLabelPosition::LowerRight | SeriesLabelPosition::UpperLeft
            ),
            "{corner:?}"
        );
        let high = Curve {
            label: "high".into(),
            points: vec![(0.0, 900.0), (1000.0, 900.0)],
            band: Vec::new(),
        };
        let corner = legend_corner(&[rising, high], &x, &y);
        assert!(
            matches!(corner, SeriesLabelPosition::LowerRight),
            "{corner:?}"
        );
    }

    #[test]
    fn the_table_has_a_row_per_step_and_blank_cells_where_a_run_has_none() {
        let curves = vec![
            Curve {
                label: "a".into(),
                points: vec![(1000.0, 20.0), (2000.0, 500.0)],
                band: Vec::new(),
            },
            Curve {
                label: "b".into(),
                points: vec![(2000.0, 100.26)],
                band: Vec::new(),
            },
        ];
        assert_eq!(
            markdown_table(&curves, "eval/return"),
            "| env steps | a (eval/return) | b (eval/return) |\n\
             |---:|---:|---:|\n\
             | 1000 | 20.0 |  |\n\
             | 2000 | 500.0 | 100.3 |\n"
        );
    }
}
