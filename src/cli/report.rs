//! `somnium report`: its arguments and what it does with them (the work
//! is in `somnium::report`).

use std::path::PathBuf;

use somnium::report::{ReportRequest, write_report};

use crate::write_stdout;

/// `somnium report`'s arguments.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// Run directories, sweep directories, or folders holding runs.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The metric each run is scored by.
    #[arg(long, default_value = "eval/return")]
    metric: String,
    /// A run's score: the mean of its last this many values of the metric.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    last: u64,
    /// Normalise by a suite's reference scores: `atari100k` (human-normalised) or a TOML file.
    #[arg(long)]
    suite: Option<String>,
    /// A method name for each path's runs, in order (default: from the runs).
    #[arg(long = "label", value_name = "NAME")]
    labels: Vec<String>,
    /// Folder for report.md and the SVG files (default: <first path>/report).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Bootstrap replicates for the intervals.
    #[arg(long, default_value_t = 50_000)]
    reps: usize,
    /// The bootstrap's seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also report where each run first reached this score: its environment steps and training wall time.
    #[arg(long)]
    target: Option<f64>,
}

/// Score the runs, write the report, print its Markdown.
pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.labels.is_empty() || args.labels.len() == args.paths.len(),
        "--label given {} times for {} paths: give one per path, in order",
        args.labels.len(),
        args.paths.len()
    );
    let output = args.output.unwrap_or_else(|| args.paths[0].join("report"));
    let request = ReportRequest {
        paths: args.paths,
        labels: args.labels,
        metric: args.metric,
        last: args.last as usize,
        suite: args.suite,
        output,
        reps: args.reps.max(1),
        seed: args.seed,
        target: args.target,
    };
    let report = write_report(&request)?;
    write_stdout(&report.markdown)?;
    println!("wrote {}", request.output.join("report.md").display());
    Ok(())
}
