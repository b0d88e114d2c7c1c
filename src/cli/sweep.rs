//! `somnium sweep`: its arguments and what it does with them (the work is
//! in `somnium::sweep`).

use std::path::PathBuf;

use anyhow::Context;
use somnium::sweep::local::{LocalOptions, Outcome, run_local};
use somnium::sweep::slurm::{SlurmOptions, submit};
use somnium::sweep::{Sweep, SweepRequest, status_table};

use crate::{device_override, write_stdout};

/// `somnium sweep`'s arguments.
#[derive(clap::Args)]
pub struct SweepArgs {
    /// The experiment file (its `[sweep]` table gives default seeds and grid).
    #[arg(required_unless_present = "status")]
    experiment: Option<PathBuf>,
    /// Runs per grid point, with run.seed = the experiment's seed + 0, 1, ...
    #[arg(long)]
    seeds: Option<u64>,
    /// Values of a key to try, e.g. --grid muzero.training.lr=1e-3,3e-3 (repeatable).
    #[arg(long = "grid", value_name = "KEY=V1,V2")]
    grid: Vec<String>,
    /// Override a config value for every run (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Compute device for every run (overrides run.device).
    #[arg(long)]
    device: Option<String>,
    /// The sweep directory (default: <run.logdir>/<experiment>-sweep[-<hash of --set and --grid>]).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Runs trained at once here (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Submit the sweep as a Slurm job array instead of running it here.
    #[arg(long)]
    slurm: bool,
    #[command(flatten)]
    sbatch: SbatchArgs,
    /// Print where each run of this sweep directory stands, and exit.
    #[arg(long, value_name = "SWEEP_DIR", conflicts_with = "experiment")]
    status: Option<PathBuf>,
}

/// What `--slurm` asks of `sbatch`.
#[derive(clap::Args)]
struct SbatchArgs {
    /// Slurm: the partition.
    #[arg(long, requires = "slurm")]
    partition: Option<String>,
    /// Slurm: the time limit per run, e.g. 04:00:00.
    #[arg(long, requires = "slurm")]
    time: Option<String>,
    /// Slurm: GPUs per run.
    #[arg(long, requires = "slurm")]
    gpus: Option<u32>,
    /// Slurm: CPUs per run (also its thread count).
    #[arg(long, requires = "slurm")]
    cpus_per_task: Option<u32>,
    /// Slurm: memory per run, e.g. 16G.
    #[arg(long, requires = "slurm")]
    mem: Option<String>,
    /// Slurm: at most this many runs at once.
    #[arg(long, requires = "slurm")]
    max_parallel: Option<usize>,
    /// Slurm: a further sbatch option, e.g. --sbatch-arg=--account=rl (repeatable).
    #[arg(long = "sbatch-arg", requires = "slurm", allow_hyphen_values = true)]
    sbatch_args: Vec<String>,
}

/// Prepare the sweep, then run it here or submit it; or print its status.
pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    if let Some(dir) = args.status {
        return write_stdout(&status_table(&Sweep::open(&dir)?));
    }
    let mut overrides = args.set;
    overrides.extend(device_override(args.device));
    let request = SweepRequest {
        experiment: args.experiment.expect("clap requires it without --status"),
        seeds: args.seeds,
        grid: args.grid,
        overrides,
        dir: args.dir,
    };
    let mut sweep = Sweep::prepare(&request)
        .with_context(|| format!("preparing the sweep of {}", request.experiment.display()))?;
    println!(
        "sweep directory: {} ({} runs)",
        sweep.dir.display(),
        sweep.manifest.runs.len()
    );
    let program = std::env::current_exe().context("locating the somnium executable")?;
    if args.slurm {
        let b = args.sbatch;
        let options = SlurmOptions {
            program,
            partition: b.partition,
            time: b.time,
            gpus: b.gpus,
            cpus_per_task: b.cpus_per_task,
            mem: b.mem,
            max_parallel: b.max_parallel,
            extra: b.sbatch_args,
        };
        match submit(&mut sweep, &options)? {
            Some(job) => println!(
                "submitted job array {} ({} runs; script {}); follow it with: somnium sweep \
                 --status {}",
                job.id,
                job.indices.len(),
                job.script.display(),
                sweep.dir.display()
            ),
            None => println!("every run is finished, queued or running: nothing to submit"),
        }
        return Ok(());
    }
    let outcomes = run_local(&sweep, &LocalOptions::new(program, args.jobs))?;
    write_stdout(&status_table(&sweep))?;
    let failed: Vec<_> = outcomes
        .iter()
        .zip(&sweep.manifest.runs)
        .filter(|(outcome, _)| !matches!(outcome, Outcome::Finished { .. }))
        .map(|(outcome, run)| format!("{}: {outcome:?}", run.name))
        .collect();
    anyhow::ensure!(
        failed.is_empty(),
        "{} of {} runs did not finish (run the same command again to resume them):\n{}",
        failed.len(),
        outcomes.len(),
        failed.join("\n")
    );
    println!(
        "summary across seeds: somnium report {}",
        sweep.dir.display()
    );
    Ok(())
}
