//! Bring your own environment: implement [`Env`], register it under an id,
//! and everything that takes an id (a [`VecEnv`], an experiment's
//! `env.id`, `somnium envs`-style listings) uses it like a built-in one.
//!
//! The environment here is Catch: a ball falls down a 5 x 5 grid from a
//! random column while the agent moves a paddle along the bottom row; the
//! episode ends when the ball reaches the bottom, with reward +1 if the
//! paddle is under it and -1 otherwise. Random play scores about -0.5;
//! perfect play scores +1.
//!
//! Run with `cargo run --release --example custom_env` (about a minute on
//! two CPU cores): it steps a vector of Catch copies with random actions,
//! then trains Gumbel MuZero on it for 20,000 steps and evaluates the
//! result greedily. Measured on 2026-11-27: random play -0.53, the trained
//! agent 1.00 (every ball caught), in 58 s.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use somnium::config::{AgentKind, ExperimentConfig};
use somnium::envs::{
    Action, Env, EnvError, EnvSpec, Observation, Space, Step, VecEnv, random_action,
};
use somnium::planners::SearchKind;

/// Side of the grid.
const SIZE: usize = 5;

/// The Catch environment. Observations are the grid as 25 zeros and ones
/// (ball and paddle cells set); actions are left, stay, right.
struct Catch {
    rng: StdRng,
    ball: (usize, usize),
    paddle: usize,
    running: bool,
    observation_space: Space,
    action_space: Space,
}

impl Catch {
    fn new() -> Self {
        Catch {
            rng: StdRng::seed_from_u64(0),
            ball: (0, 0),
            paddle: SIZE / 2,
            running: false,
            observation_space: Space::uniform_box(vec![SIZE * SIZE], 0.0, 1.0),
            action_space: Space::Discrete { n: 3 },
        }
    }

    fn observation(&self) -> Observation {
        let mut cells = vec![0.0; SIZE * SIZE];
        cells[self.ball.0 * SIZE + self.ball.1] = 1.0;
        cells[(SIZE - 1) * SIZE + self.paddle] = 1.0;
        Observation::Vector(cells)
    }
}

impl Env for Catch {
    fn id(&self) -> &str {
        "Example/Catch-v0"
    }

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<Observation, EnvError> {
        if let Some(seed) = seed {
            self.rng = StdRng::seed_from_u64(seed);
        }
        self.ball = (0, self.rng.random_range(0..SIZE));
        self.paddle = SIZE / 2;
        self.running = true;
        Ok(self.observation())
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let move_by = match action {
            Action::Discrete(a) if *a < 3 => *a as isize - 1,
            other => {
                return Err(EnvError::InvalidAction {
                    env: self.id().into(),
                    problem: format!("expected a discrete action in 0..3, got {other:?}"),
                });
            }
        };
        if !self.running {
            return Err(EnvError::BadCall {
                env: self.id().into(),
                problem: "step before reset or after the episode ended".into(),
            });
        }
        self.paddle = self.paddle.saturating_add_signed(move_by).min(SIZE - 1);
        self.ball.0 += 1;
        let landed = self.ball.0 == SIZE - 1;
        self.running = !landed;
        let reward = match (landed, self.ball.1 == self.paddle) {
            (false, _) => 0.0,
            (true, true) => 1.0,
            (true, false) => -1.0,
        };
        Ok(Step {
            obs: self.observation(),
            reward,
            terminated: landed,
            truncated: false,
        })
    }
}

fn make_catch() -> Box<dyn Env> {
    Box::new(Catch::new())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Register the environment under an id.
    somnium::envs::register(EnvSpec {
        id: "Example/Catch-v0",
        reference: "examples/custom_env.rs",
        make: make_catch,
    })?;

    // 2. Step eight copies through the same VecEnv the trainer uses; it
    //    resets finished copies itself and reports their episodes.
    let mut envs = VecEnv::make("Example/Catch-v0", 8, 1)?;
    envs.reset(Some(0))?;
    let mut rng = StdRng::seed_from_u64(1);
    let mut returns = Vec::new();
    while returns.len() < 200 {
        let actions: Vec<Action> = (0..envs.len())
            .map(|_| random_action(envs.action_space(), &mut rng))
            .collect();
        let step = envs.step(&actions)?;
        returns.extend(step.episodes.iter().map(|e| e.episode_return));
    }
    let random = returns.iter().sum::<f64>() / returns.len() as f64;
    println!(
        "random play: mean return {random:.2} over {} episodes",
        returns.len()
    );

    // 3. Train an agent on it, with a config built in code (the same
    //    structs an experiment file fills in).
    let mut config = ExperimentConfig {
        agent: AgentKind::Muzero,
        ..ExperimentConfig::default()
    };
    config.env.id = "Example/Catch-v0".into();
    config.env.num_envs = 8;
    config.run.env_steps = 20_000;
    config.run.prefill = 400;
    config.run.eval_every = 5_000;
    config.run.eval_episodes = 20;
    config.run.log_every = 1_000;
    config.run.logdir = "runs".into();
    let muzero = &mut config.muzero;
    muzero.updates_per_step = 0.25;
    muzero.network.state = 32;
    muzero.network.units = 64;
    muzero.network.layers = 1;
    muzero.network.support = 5;
    muzero.search.kind = SearchKind::Gumbel;
    muzero.search.simulations = 4;
    muzero.search.max_considered_actions = 3;
    muzero.training.batch = 64;
    muzero.training.td_steps = 5;
    let run = somnium::train::train_config(&config, "example-catch")?;
    println!(
        "run directory (metrics.jsonl, checkpoints): {}",
        run.display()
    );

    // 4. Evaluate the final checkpoint greedily, as `somnium eval` does.
    let eval = somnium::train::evaluate_run(&run, &somnium::train::EvalRequest::new(50, true))?;
    println!(
        "trained agent: mean return {:.2} over {} episodes (random play {random:.2})",
        eval.mean_return, eval.episodes
    );
    Ok(())
}
