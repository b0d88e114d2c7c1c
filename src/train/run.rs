//! The run loop: collect with the agent, train at the configured ratio,
//! log, evaluate and checkpoint; and the `train` entry point of the
//! command line (`resume` is in `resume.rs`, `eval` in `eval.rs`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::actors::ActorThread;
use super::checkpoint::{Checkpoint, Counters, FORMAT_VERSION, Manifest, save_json, stable_hash};
use super::collect::{Collector, Episode};
use super::eval::evaluate;
use super::lock::RunLock;
use super::provenance::Provenance;
use super::{Agent, RunDir};
use crate::config::{AgentKind, ExperimentConfig};
use crate::core::Noise;
use crate::device::open_device;
use crate::dreamer::DreamerAgent;
use crate::logging::{
    JsonlSink, Logger, MetricsSink, ProgressSink, Scalar, TensorboardSink, heal_for_resume,
};
use crate::muzero::MuzeroAgent;
use crate::storm::StormAgent;
use crate::{Error, Result};

/// Loop state saved beside the agent's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct LoopState {
    pub(super) counters: Counters,
    pub(super) noise: Noise,
    /// The evaluation return that met `run.stop_at_eval_return` and ended
    /// the run there, if one did. Absent in older checkpoints.
    #[serde(default)]
    pub(super) reached_goal: Option<f64>,
    /// Wall-clock seconds spent training up to this state, summed over the
    /// processes that trained the run (time lost to a kill after the last
    /// checkpoint is not counted). Absent (0) in older checkpoints.
    #[serde(default)]
    pub(super) train_seconds: f64,
}

/// Agent options added after the first checkpoints (dotted paths within
/// that agent's section), each with the value that behaves as checkpoints
/// written before it existed did. At that value an option is left out of
/// the hash, so those checkpoints still resume; at any other (a default
/// that changed the algorithm included) the hash differs, and resuming an
/// older checkpoint fails naming the option, which `--set` to the listed
/// value lets it resume as it was trained.
fn later_options() -> [(AgentKind, &'static str, serde_json::Value); 22] {
    use serde_json::json;
    [
        (AgentKind::Dreamer, "replay.context", json!(0)),
        (AgentKind::Dreamer, "rssm.prior_layers", json!(1)),
        (AgentKind::Dreamer, "heads.actor_outscale", json!(1.0)),
        (AgentKind::Dreamer, "heads.twohot", json!("symlog")),
        (AgentKind::Muzero, "reanalyze.root_values", json!(false)),
        // Before it, the correction scaled ages by the replay capacity
        // rather than the run's updates; such runs resume with the fix.
        (
            AgentKind::Muzero,
            "efficient_zero.off_policy_ratio",
            json!(0.3),
        ),
        (AgentKind::Dreamer, "rssm.action_clip", json!(0.0)),
        (AgentKind::Dreamer, "rssm.initial", json!("zeros")),
        (
            AgentKind::Dreamer,
            "behaviour.continuation",
            json!("probability"),
        ),
        // Refitted spreads of actions in [-1, 1] never exceed 1, so the
        // bound of 2 changes nothing.
        (AgentKind::Dreamer, "planner.sampling.max_std", json!(2.0)),
        (AgentKind::Dreamer, "encoder.cnn", json!("strided")),
        (AgentKind::Dreamer, "encoder.cnn_mults", json!([2, 3, 4, 4])),
        (AgentKind::Dreamer, "encoder.cnn_kernel", json!(5)),
        (AgentKind::Dreamer, "encoder.cnn_decoder_blocks", json!(8)),
        (AgentKind::Dreamer, "replay.online", json!(false)),
        (
            AgentKind::Dreamer,
            "replay.fracs",
            json!(crate::replay::ReplayFractions::default()),
        ),
        (
            AgentKind::Dreamer,
            "replay.prio",
            json!(crate::replay::PriorityConfig::default()),
        ),
        (AgentKind::Dreamer, "replay.recexp", json!(1.0)),
        (AgentKind::Muzero, "reanalyze.root_noise", json!(true)),
        (AgentKind::Dreamer, "dense_bias", json!(false)),
        (
            AgentKind::Dreamer,
            "planner.sampling.warm_start",
            json!(false),
        ),
        (
            AgentKind::Dreamer,
            "behaviour.actor_gradient",
            json!("auto"),
        ),
    ]
}

/// The hash of the config parts that must not change across a resume.
pub fn config_hash(config: &ExperimentConfig) -> String {
    let (_, shaping) = shaping_parts(config);
    let shaping = (config.agent, &config.env, shaping);
    stable_hash(&serde_json::to_string(&shaping).expect("config serialises"))
}

/// The config parts that [`config_hash`] hashes, as JSON objects keyed as
/// in the experiment file (`agent`, `env`, and the agent's own section),
/// saved in each checkpoint's manifest so that a mismatch names its keys.
pub fn config_shaping(config: &ExperimentConfig) -> serde_json::Value {
    let (agent, shaping) = shaping_parts(config);
    let mut object = serde_json::Map::new();
    object.insert("agent".into(), serde_json::json!(config.agent));
    object.insert("env".into(), serde_json::json!(config.env));
    object.insert(agent.into(), shaping);
    serde_json::Value::Object(object)
}

fn shaping_parts(config: &ExperimentConfig) -> (&'static str, serde_json::Value) {
    // Only the agent's own section: a new MuZero option must not make a
    // DreamerV3 checkpoint unreadable, or the other way round.
    let mut agent = match config.agent {
        AgentKind::Dreamer => serde_json::to_value(&config.dreamer),
        AgentKind::Muzero => serde_json::to_value(&config.muzero),
        AgentKind::Storm => serde_json::to_value(&config.storm),
    }
    .expect("config serialises");
    // Options added since checkpoints were first written count only when
    // set: at their defaults, older checkpoints (hashed without them)
    // still load.
    for (_, path, as_before) in later_options().iter().filter(|o| o.0 == config.agent) {
        // `section.key`, or a key of the agent's own section.
        let (sections, key) = path.rsplit_once('.').unwrap_or(("", path));
        let table = sections
            .split('.')
            .filter(|section| !section.is_empty())
            .try_fold(&mut agent, |v, section| v.get_mut(section))
            .and_then(|v| v.as_object_mut());
        if let Some(table) = table
            && table.get(key) == Some(as_before)
        {
            table.remove(key);
        }
    }
    (agent_name(config.agent), agent)
}

pub(super) fn build_agent(
    config: &ExperimentConfig,
    collector: &Collector,
) -> Result<Box<dyn Agent>> {
    let device = open_device(&config.run.device, config.run.precision)?;
    let env = collector.env();
    // Further shares on the main device, then one per replica device.
    let mut replicas = vec![device.clone(); config.run.update_shards.saturating_sub(1)];
    for spec in &config.run.replica_devices {
        replicas.push(open_device(spec, config.run.precision)?);
    }
    match config.agent {
        AgentKind::Dreamer => Ok(Box::new(
            DreamerAgent::new(
                &config.dreamer,
                env.observation_space(),
                env.action_space(),
                collector.len(),
                config.run.seed,
                &device,
            )?
            .with_replicas(&replicas),
        )),
        AgentKind::Muzero => {
            let mut agent = MuzeroAgent::new(
                &config.muzero,
                env.observation_space(),
                env.action_space(),
                collector.len(),
                config.run.seed,
                &device,
            )?;
            let training_steps = config.run.env_steps.saturating_sub(config.run.prefill) as f64
                * config.muzero.updates_per_step;
            agent.set_planned_updates(training_steps as u64);
            Ok(Box::new(agent))
        }
        AgentKind::Storm => Ok(Box::new(
            StormAgent::new(
                &config.storm,
                env.observation_space(),
                env.action_space(),
                collector.len(),
                config.run.seed,
                &device,
            )?
            .with_replicas(&replicas),
        )),
    }
}

/// The name runs of the experiment file `path` take: its stem, after its
/// folder's name unless that is `experiments` (`muzero-cartpole`).
pub fn experiment_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "run".into());
    match path.parent().and_then(|p| p.file_name()) {
        Some(parent) if parent != "experiments" => format!("{}-{stem}", parent.to_string_lossy()),
        _ => stem,
    }
}

/// Train the experiment in `path` with `overrides`; returns the run directory.
pub fn train_experiment(path: &Path, overrides: &[String]) -> Result<PathBuf> {
    let config: ExperimentConfig = crate::config::load(path, overrides)?;
    train_config(&config, &experiment_name(path))
}

/// Train a config built in code (for example in an example program or a
/// notebook-free script) under `run.logdir/<name>-<timestamp>`; returns the
/// run directory, which `somnium resume`, `eval` and `dream` accept like any
/// other. Checks the config's ranges first, as loading a file does.
pub fn train_config(config: &ExperimentConfig, name: &str) -> Result<PathBuf> {
    crate::config::validate(config, "<config built in code>")?;
    // Fail before creating a run directory.
    open_device(&config.run.device, config.run.precision)?;
    for spec in &config.run.replica_devices {
        open_device(spec, config.run.precision)?;
    }
    somnium_envs::make(&config.env.id)?;
    let (run, lock) = RunDir::create(Path::new(&config.run.logdir), name, config)?;
    println!("run directory: {}", run.root.display());
    train_in(config, &run, lock)?;
    Ok(run.root)
}

/// Train `config` from the start in the run directory `run`, whose lock
/// the caller holds: a fresh one, or one whose earlier attempt left no
/// checkpoint (its metrics rows and event files are set aside first, so
/// the curves show this attempt alone).
pub(super) fn train_in(config: &ExperimentConfig, run: &RunDir, _lock: RunLock) -> Result<()> {
    crate::config::validate(config, &run.config_path().display().to_string())?;
    let superseded = run.root.join("metrics.superseded.jsonl");
    heal_for_resume(&run.metrics_path(), 0, &superseded)?;
    remove_event_files(&run.root)?;
    let mut noise = Noise::new(config.run.seed);
    let collector = Collector::new(&config.env, config.env.num_envs, &mut noise)?;
    let agent = build_agent(config, &collector)?;
    let state = LoopState {
        counters: Counters::default(),
        noise,
        reached_goal: None,
        train_seconds: 0.0,
    };
    run_loop(config, run, agent, collector, state)
}

/// Remove TensorBoard event files from `root` (those of an attempt that
/// left no checkpoint).
fn remove_event_files(root: &Path) -> Result<()> {
    let entries = std::fs::read_dir(root).map_err(|e| Error::io("listing", root, e))?;
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("events.out.tfevents.")
        {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| Error::io("removing", &path, e))?;
        }
    }
    Ok(())
}

pub(super) fn agent_name(kind: AgentKind) -> &'static str {
    match kind {
        AgentKind::Dreamer => "dreamer",
        AgentKind::Muzero => "muzero",
        AgentKind::Storm => "storm",
    }
}

pub(super) fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

pub(super) fn run_loop(
    config: &ExperimentConfig,
    run: &RunDir,
    mut agent: Box<dyn Agent>,
    collector: Collector,
    mut state: LoopState,
) -> Result<()> {
    let r = &config.run;
    Provenance::now(&r.device, state.counters.env_steps).append(&run.root)?;
    let mut logger = Logger::new().with(JsonlSink::open(&run.metrics_path())?);
    if r.tensorboard {
        let mut events = TensorboardSink::new(&run.root)?;
        if state.counters.env_steps > 0 {
            // Rows at the checkpoint's own step were logged before it.
            events.restart_at(state.counters.env_steps + 1)?;
        }
        logger = logger.with(events);
    }
    if r.progress {
        logger = logger.with(ProgressSink::new(r.env_steps, state.counters.env_steps));
    }
    // With async actors the environments move to the actor thread, which
    // sends their first observations as its first batch.
    let mut collection = if r.async_actors {
        let policy = agent.acting_policy().ok_or_else(|| {
            Error::Unsupported(format!(
                "run.async_actors: the {} agent cannot act apart from the learner",
                agent.name()
            ))
        })?;
        let (noise, steps) = (state.noise.fork(), state.counters.env_steps);
        Collection::Actors(ActorThread::spawn(
            collector, policy, noise, steps, r.prefill,
        ))
    } else {
        collector.record_current(agent.as_mut());
        Collection::Here(collector)
    };
    let hash = config_hash(config);
    let mut episodes: Vec<Episode> = Vec::new();
    let mut last_metrics: Vec<Scalar> = Vec::new();
    let (mut timer, mut steps_at_timer, mut updates_at_timer) =
        (Instant::now(), state.counters.env_steps, agent.updates());
    let mut next_log = next_multiple(state.counters.env_steps, r.log_every);
    let mut next_eval = next_multiple(state.counters.env_steps, r.eval_every);
    let mut next_checkpoint = next_multiple(state.counters.env_steps, r.checkpoint_every);
    let mut reached = None;
    let mut checkpointed_at = None;
    let (started, seconds_before) = (Instant::now(), state.train_seconds);

    while state.counters.env_steps < r.env_steps && reached.is_none() {
        let (finished, metrics, steps_after) = match &mut collection {
            Collection::Actors(actors) => {
                learn_from_actors(actors, agent.as_mut(), &state, r.prefill)?
            }
            Collection::Here(collector) => collect_and_learn(
                collector,
                agent.as_mut(),
                &mut state,
                r.prefill,
                r.overlap_envs,
            )?,
        };
        state.counters.env_steps = steps_after;
        state.counters.episodes += finished.len() as u64;
        episodes.extend(finished);
        if !metrics.is_empty() {
            last_metrics = metrics;
        }
        state.counters.updates = agent.updates();
        state.train_seconds = seconds_before + started.elapsed().as_secs_f64();

        if state.counters.env_steps >= next_log {
            next_log = next_multiple(state.counters.env_steps, r.log_every);
            let elapsed = timer.elapsed().as_secs_f64().max(1e-9);
            let mut scalars = last_metrics.clone();
            if let Some(score) = mean(episodes.iter().map(|e| e.score)) {
                scalars.push(("episode/return".into(), score));
                scalars.push((
                    "episode/length".into(),
                    mean(episodes.iter().map(|e| e.length as f64)).unwrap_or(0.0),
                ));
            }
            scalars.push(("episode/count".into(), state.counters.episodes as f64));
            scalars.push((
                "perf/env_steps_per_s".into(),
                (state.counters.env_steps - steps_at_timer) as f64 / elapsed,
            ));
            scalars.push((
                "perf/updates_per_s".into(),
                (agent.updates() - updates_at_timer) as f64 / elapsed,
            ));
            scalars.push(("perf/updates".into(), agent.updates() as f64));
            scalars.push(wall_minutes(&state));
            logger.scalars(state.counters.env_steps, &scalars)?;
            logger.flush()?;
            episodes.clear();
            (timer, steps_at_timer, updates_at_timer) =
                (Instant::now(), state.counters.env_steps, agent.updates());
        }
        if r.eval_every > 0 && state.counters.env_steps >= next_eval {
            next_eval = next_multiple(state.counters.env_steps, r.eval_every);
            let summary = evaluate(
                agent.as_mut(),
                config,
                r.eval_episodes,
                r.eval_greedy,
                &mut state.noise,
            )?;
            logger.scalars(
                state.counters.env_steps,
                &[
                    ("eval/return".into(), summary.mean_return),
                    ("eval/length".into(), summary.mean_length),
                    wall_minutes(&state),
                ],
            )?;
            logger.flush()?;
            if r.stop_at_eval_return
                .is_some_and(|goal| summary.mean_return >= goal)
            {
                reached = Some(summary.mean_return);
                state.reached_goal = reached;
            }
        }
        if r.checkpoint_every > 0 && state.counters.env_steps >= next_checkpoint {
            next_checkpoint = next_multiple(state.counters.env_steps, r.checkpoint_every);
            state.train_seconds = seconds_before + started.elapsed().as_secs_f64();
            write_checkpoint(run, agent.as_ref(), &state, &hash, config)?;
            checkpointed_at = Some(state.counters.env_steps);
        }
    }
    drop(collection); // stops an actor thread
    // The final checkpoint, unless the last step already wrote it (a run
    // that ends or stops on a checkpoint step).
    if checkpointed_at != Some(state.counters.env_steps) {
        write_checkpoint(run, agent.as_ref(), &state, &hash, config)?;
    }
    logger.flush()?;
    drop(logger); // closes the progress bar before the line below
    if let (Some(score), Some(goal)) = (reached, r.stop_at_eval_return) {
        println!(
            "stopped at {} env steps: evaluation return {score:.1} reached run.stop_at_eval_return = {goal}",
            state.counters.env_steps
        );
    }
    Ok(())
}

/// The training wall time logged beside each log and evaluation row.
fn wall_minutes(state: &LoopState) -> Scalar {
    ("perf/wall_minutes".into(), state.train_seconds / 60.0)
}

/// Where the training environments are stepped.
enum Collection {
    /// On the learner's thread (or a worker of it, with `overlap_envs`).
    Here(Collector),
    /// On an actor thread acting with policy snapshots (`async_actors`).
    Actors(ActorThread),
}

/// One synchronous step: act, step the environments (on a worker while the
/// agent trains, with `overlap`), record and train. Returns the finished
/// episodes, the last update's metrics and the environment steps after.
fn collect_and_learn(
    collector: &mut Collector,
    agent: &mut dyn Agent,
    state: &mut LoopState,
    prefill: u64,
    overlap: bool,
) -> Result<(Vec<Episode>, Vec<Scalar>, u64)> {
    let actions = if state.counters.env_steps < prefill {
        collector.random_actions(&mut state.noise)
    } else {
        let (obs, first) = (collector.obs.clone(), collector.is_first.clone());
        agent.act(0, &obs, &first, false)
    };
    let steps_after = state.counters.env_steps + collector.len() as u64;
    if overlap {
        // The environments step on a worker while the agent trains on the
        // replay it has; their transitions are recorded after.
        let (steps, metrics) = std::thread::scope(|scope| {
            let worker = scope.spawn(|| collector.step_envs(&actions));
            let metrics = agent.train(steps_after, prefill);
            let steps = worker.join().expect("the environment thread panicked");
            (steps, metrics)
        });
        let finished = collector.absorb(&actions, steps?, Some(agent), &mut state.noise)?;
        Ok((finished, metrics?, steps_after))
    } else {
        let finished = collector.step(&actions, Some(&mut *agent), &mut state.noise)?;
        Ok((finished, agent.train(steps_after, prefill)?, steps_after))
    }
}

/// One step of the asynchronous loop: take the actor's next batch of
/// steps into replay, make the updates owed, and hand the actor the new
/// policy if anything was learned.
fn learn_from_actors(
    actors: &ActorThread,
    agent: &mut dyn Agent,
    state: &LoopState,
    prefill: u64,
) -> Result<(Vec<Episode>, Vec<Scalar>, u64)> {
    let batch = actors.next()?;
    for record in &batch.records {
        record.record_into(agent);
    }
    let steps_after = state.counters.env_steps + batch.steps;
    let updates = agent.updates();
    let metrics = agent.train(steps_after, prefill)?;
    if agent.updates() != updates
        && let Some(policy) = agent.acting_policy()
    {
        actors.publish(policy);
    }
    Ok((batch.finished, metrics, steps_after))
}

fn next_multiple(current: u64, every: u64) -> u64 {
    current
        .checked_div(every)
        .map_or(u64::MAX, |multiples| (multiples + 1) * every)
}

fn write_checkpoint(
    run: &RunDir,
    agent: &dyn Agent,
    state: &LoopState,
    hash: &str,
    config: &ExperimentConfig,
) -> Result<()> {
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        config_hash: hash.to_string(),
        counters: state.counters,
        agent: agent.name().into(),
        precision: config.run.precision,
        config: Some(config_shaping(config)),
        files: None,
    };
    Checkpoint::write(
        &run.checkpoints(),
        manifest,
        config.run.keep_checkpoints,
        |dir| {
            agent.save(dir)?;
            save_json(state, &dir.join("loop_state.json"))
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_hash_covers_the_agents_own_section_only() {
        let dreamer = ExperimentConfig::default();
        assert_eq!(dreamer.agent, AgentKind::Dreamer);
        let mut other = dreamer.clone();
        other.muzero.efficient_zero.lstm_units += 1;
        assert_eq!(config_hash(&dreamer), config_hash(&other));
        let mut own = dreamer.clone();
        own.dreamer.train_ratio += 1.0;
        assert_ne!(config_hash(&dreamer), config_hash(&own));
        let mut env = dreamer.clone();
        env.env.id = "Pendulum-v1".into();
        assert_ne!(config_hash(&dreamer), config_hash(&env));
    }

    /// Set to the behaviour of older checkpoints, the later options give
    /// back the hash checkpoints have carried since before
    /// `dreamer.replay.context` existed: a new option must join
    /// `later_options`, or every existing checkpoint stops resuming.
    #[test]
    fn new_options_as_before_keep_older_checkpoints_loadable() {
        let mut config = ExperimentConfig::default();
        let today = config_hash(&config);
        config.dreamer.rssm.action_clip = 0.0;
        config.dreamer.behaviour.continuation = crate::dreamer::ContinuationEstimate::Probability;
        assert_eq!(config_hash(&config), "a5524192d8114d95");
        assert_ne!(
            today, "a5524192d8114d95",
            "the 2023 defaults changed the algorithm"
        );
        config.dreamer.replay.context = 1;
        assert_ne!(config_hash(&config), "a5524192d8114d95");
        config.dreamer.replay.context = 0;
        config.dreamer.planner.sampling.max_std = 3.0;
        assert_ne!(config_hash(&config), "a5524192d8114d95");
    }
}
