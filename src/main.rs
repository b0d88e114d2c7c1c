//! The `somnium` command: train, resume, evaluate and inspect agents.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// The larger subcommands' arguments and bodies.
mod cli {
    pub mod report;
    pub mod sweep;
}

/// Reinforcement learning with latent world models (DreamerV3, MuZero).
#[derive(Parser)]
#[command(name = "somnium", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an agent from an experiment file.
    Train {
        /// The experiment, e.g. experiments/dreamer/cartpole.toml.
        experiment: PathBuf,
        /// Override a config value: --set section.key=value (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Compute device: flex, wgpu, wgpu:cpu, wgpu:N, cuda:N (overrides run.device).
        #[arg(long)]
        device: Option<String>,
        /// Directory under which the run directory is created (overrides run.logdir).
        #[arg(long)]
        logdir: Option<PathBuf>,
    },
    /// Continue a run from its newest usable checkpoint.
    Resume {
        /// The run directory, e.g. runs/cartpole-1763800000.
        run: PathBuf,
        /// Resume from the checkpoint written at this many environment
        /// steps (newer checkpoints and metrics rows are set aside).
        #[arg(long, value_name = "ENV_STEPS")]
        checkpoint: Option<u64>,
        /// Override a config value, e.g. --set run.env_steps=50000 to train longer.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Compute device (overrides the run's).
        #[arg(long)]
        device: Option<String>,
    },
    /// Evaluate a run's latest checkpoint and print a JSON summary.
    Eval {
        /// The run directory.
        run: PathBuf,
        /// Episodes to play (at least 1).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        episodes: u64,
        /// Act greedily instead of sampling from the policy (as does
        /// `--set run.eval_greedy=true`, or a run trained with it).
        #[arg(long)]
        greedy: bool,
        /// Evaluate the checkpoint written at this many environment steps.
        #[arg(long, value_name = "ENV_STEPS")]
        checkpoint: Option<u64>,
        /// Act differently from training, e.g. --set dreamer.planner.kind=cem
        /// (only run.*, dreamer.planner.* and muzero.search.* keys; repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Compute device (overrides the run's).
        #[arg(long)]
        device: Option<String>,
    },
    /// Draw real observations beside the world model's open-loop predictions
    /// (frames as a GIF or PNG strip; vector features as an SVG chart).
    Dream {
        /// The run directory.
        run: PathBuf,
        /// Steps of real context before the model predicts on its own.
        #[arg(long, default_value_t = 5)]
        context: usize,
        /// Steps the model predicts open-loop.
        #[arg(long, default_value_t = 45)]
        horizon: usize,
        /// Output file: .gif or .png for image observations, .svg for vectors;
        /// defaults to <run>/videos/dream.gif (images) or dream.svg (vectors).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Dream with the checkpoint written at this many environment steps.
        #[arg(long)]
        checkpoint: Option<u64>,
        /// Compute device (overrides the run's).
        #[arg(long)]
        device: Option<String>,
        /// Instead of playing an episode, filter every ended episode of the
        /// checkpoint's replay through the model and report the continue
        /// head at each ending (JSON; default <run>/videos/endings.json).
        #[arg(long)]
        endings: bool,
    },
    /// Plot a metric of one or more runs against environment steps (SVG);
    /// a sweep directory among them draws each method's mean over its
    /// seeds with a 95% bootstrap band.
    Plot {
        /// Run directories (each with its metrics.jsonl).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// The metric, e.g. eval/return, episode/return, loss/reward.
        #[arg(long, default_value = "eval/return")]
        metric: String,
        /// Legend entries, one per run in order (default: the run directories' names).
        #[arg(long = "label", value_name = "NAME")]
        labels: Vec<String>,
        /// The chart's title (default: the metric).
        #[arg(long)]
        title: Option<String>,
        /// Output file; defaults to <first run>/plots/<metric>.svg.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Also print the points as a Markdown table.
        #[arg(long)]
        table: bool,
    },
    /// Train an experiment over seeds and a grid of values: one run
    /// directory per seed and grid point, here several at a time or as a
    /// Slurm job array. Running it again skips finished runs and resumes
    /// killed ones.
    Sweep(cli::sweep::SweepArgs),
    /// Train one run of a sweep (what the sweep's processes and Slurm tasks run).
    #[command(hide = true)]
    SweepTask {
        /// The sweep directory.
        sweep: PathBuf,
        /// The run's index in the sweep's manifest.
        #[arg(long)]
        index: usize,
        /// Stop when standard input closes (the local sweep process ended).
        #[arg(long)]
        with_parent: bool,
    },
    /// Results across seeds and tasks: per-task mean and standard error,
    /// and mean, median, IQM and optimality gap with stratified-bootstrap
    /// 95% intervals (Agarwal et al. 2021), as Markdown with SVG curves.
    Report(cli::report::ReportArgs),
    /// Print the fully resolved config of an experiment (defaults, presets, file, overrides).
    Config {
        /// The experiment file; omit it to print the defaults.
        experiment: Option<PathBuf>,
        /// Override a config value: --set section.key=value (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// List the registered environments with their spaces.
    Envs,
}

fn device_override(device: Option<String>) -> Vec<String> {
    device
        .map(|d| vec![format!("run.device=\"{d}\"")])
        .unwrap_or_default()
}

/// After training: the run's best and last evaluation returns (nothing
/// when it made no evaluation).
fn print_evaluations(run: &std::path::Path) {
    let Ok(curve) = somnium::logging::read_curve(run, "eval/return") else {
        return;
    };
    // The first of equal bests: when the run first got there.
    let best = curve
        .points
        .iter()
        .copied()
        .reduce(|a, b| if b.1 > a.1 { b } else { a });
    if let (Some((best_step, best)), Some(&(last_step, last))) = (best, curve.points.last()) {
        println!(
            "evaluation return: best {best:.1} at {best_step} env steps, last {last:.1} at \
             {last_step} (all: somnium plot {} --table)",
            run.display()
        );
    }
}

/// Write `text` to standard output; a reader that stopped reading (`somnium
/// envs | head -1`) ends the output quietly instead of with a panic.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Train {
            experiment,
            mut set,
            device,
            logdir,
        } => {
            set.extend(device_override(device));
            if let Some(logdir) = logdir {
                set.push(format!("run.logdir={:?}", logdir.display().to_string()));
            }
            // The run directory is printed as the run starts.
            let run = somnium::train::train_experiment(&experiment, &set)
                .with_context(|| format!("training {}", experiment.display()))?;
            print_evaluations(&run);
        }
        Command::Resume {
            run,
            checkpoint,
            mut set,
            device,
        } => {
            set.extend(device_override(device));
            let request = somnium::train::ResumeRequest {
                checkpoint,
                overrides: set,
            };
            somnium::train::resume(&run, &request)
                .with_context(|| format!("resuming {}", run.display()))?;
            print_evaluations(&run);
        }
        Command::Eval {
            run,
            episodes,
            greedy,
            checkpoint,
            set,
            device,
        } => {
            let mut request = somnium::train::EvalRequest::new(episodes as usize, greedy);
            request.checkpoint = checkpoint;
            request.overrides = set;
            request.overrides.extend(device_override(device));
            let summary = somnium::train::evaluate_run(&run, &request)
                .with_context(|| format!("evaluating {}", run.display()))?;
            write_stdout(&(serde_json::to_string_pretty(&summary)? + "\n"))?;
        }
        Command::Dream {
            run,
            checkpoint,
            endings: true,
            output,
            device,
            ..
        } => {
            let (path, report) = somnium::train::dream_endings(
                &run,
                checkpoint,
                output.as_deref(),
                &device_override(device),
            )
            .with_context(|| format!("reading the endings of {}", run.display()))?;
            let show = |mean: Option<f32>| mean.map_or("-".to_string(), |m| format!("{m:.3}"));
            println!(
                "checkpoint {}: {} episodes terminated (continue head at the terminal step: mean {}), {} cut by a time limit (at the last step: mean {})",
                report.checkpoint,
                report.terminated,
                show(report.mean_continue_at_terminal),
                report.truncated,
                show(report.mean_continue_at_cut),
            );
            println!("wrote {}", path.display());
        }
        Command::Dream {
            run,
            checkpoint,
            context,
            horizon,
            output,
            device,
            endings: false,
        } => {
            let path = somnium::train::dream(
                &run,
                checkpoint,
                context,
                horizon,
                output.as_deref(),
                &device_override(device),
            )
            .with_context(|| format!("dreaming from {}", run.display()))?;
            println!("wrote {}", path.display());
        }
        Command::Plot {
            runs,
            metric,
            labels,
            title,
            output,
            table,
        } => {
            anyhow::ensure!(
                labels.is_empty() || labels.len() == runs.len(),
                "--label given {} times for {} runs: give one per run, in order",
                labels.len(),
                runs.len()
            );
            // Sweeps are drawn as each method's mean over its seeds.
            let sweeps = runs
                .iter()
                .any(|r| r.join(somnium::sweep::MANIFEST).is_file());
            let mut curves = Vec::with_capacity(runs.len());
            if sweeps {
                curves = somnium::report::seed_curves(&runs, &labels, &metric)?;
            }
            for (i, run) in runs.iter().enumerate().filter(|_| !sweeps) {
                let mut curve = somnium::logging::read_curve(run, &metric)?;
                if let Some(label) = labels.get(i) {
                    curve.label = label.clone();
                }
                curves.push(curve);
            }
            let output = output.unwrap_or_else(|| {
                runs[0]
                    .join("plots")
                    .join(format!("{}.svg", metric.replace('/', "-")))
            });
            somnium::logging::write_svg(
                &curves,
                &metric,
                title.as_deref().unwrap_or(&metric),
                &output,
            )?;
            if table {
                print!("{}", somnium::logging::markdown_table(&curves, &metric));
            }
            println!("wrote {}", output.display());
        }
        Command::Sweep(args) => cli::sweep::run(args)?,
        Command::SweepTask {
            sweep,
            index,
            with_parent,
        } => {
            if with_parent {
                somnium::sweep::local::exit_with_parent();
            }
            somnium::sweep::run_task(&sweep, index).with_context(|| {
                format!("training run {index} of the sweep {}", sweep.display())
            })?;
        }
        Command::Report(args) => cli::report::run(args)?,
        Command::Config { experiment, set } => {
            let config: somnium::config::ExperimentConfig = match experiment {
                Some(path) => somnium::config::load(&path, &set)?,
                None => somnium::config::load_str("", "<defaults>", &set)?,
            };
            write_stdout(&toml::to_string_pretty(&config)?)?;
        }
        Command::Envs => {
            let mut text = format!(
                "{:<30} {:<28} {:<14} reference\n",
                "id", "observation", "action"
            );
            for spec in somnium::envs::registry() {
                let env = (spec.make)();
                text.push_str(&format!(
                    "{:<30} {:<28} {:<14} {}\n",
                    spec.id,
                    env.observation_space().describe(),
                    env.action_space().describe(),
                    spec.reference
                ));
            }
            write_stdout(&text)?;
        }
    }
    Ok(())
}
