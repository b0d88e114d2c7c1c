//! MinAtar against the Python package `minatar` 1.0.15, step for step.
//!
//! `envs/scripts/record_minatar.py` recorded runs of minatar's own
//! `Environment` (sticky actions 0.1, difficulty ramping on, all six
//! actions) with every random draw it made. Here the same draws are fed to
//! our games through [`ReplayRng`] (which panics as soon as a game asks for
//! a different kind of draw than the reference made), the recorded actions
//! are replayed, and every step's state (the observation), reward and
//! terminal flag must agree exactly, as must the number of draws each reset
//! and step consumed.
//!
//! Episodes follow each other in one environment, seeded once, as in the
//! recording, so the sticky action carried across `reset(None)` is checked
//! too. The reference reports every ending as `done`; ours as `terminated`,
//! or `truncated` for Freeway's timer, so `terminated || truncated` is
//! compared with it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::Value;
use somnium_envs::minatar::{
    Asterix, Breakout, Draw, DrawKind, Freeway, Game, MinAtar, MinAtarConfig, MinAtarRng,
    ReplayRng, Seaquest, SpaceInvaders,
};
use somnium_envs::{Action, Env, Observation};

#[derive(Deserialize)]
struct Recording {
    game: String,
    minatar_version: String,
    sticky_action_prob: f64,
    difficulty_ramping: bool,
    channels: usize,
    episodes: Vec<Episode>,
}

#[derive(Deserialize)]
struct Episode {
    reset_draws: Vec<Value>,
    initial_state: String,
    actions: Vec<usize>,
    draws: Vec<Vec<Value>>,
    rewards: Vec<i64>,
    terminals: Vec<bool>,
    states: Vec<String>,
}

fn load(game: &str) -> Recording {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/minatar_{game}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let recording: Recording =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(recording.minatar_version, "1.0.15", "{}", path.display());
    assert_eq!(recording.game, game);
    recording
}

/// One draw from its compact JSON form (see the recording script).
fn parse_draw(value: &Value) -> Draw {
    let items = value.as_array().expect("a draw is a list");
    let int = |i: usize| items[i].as_i64().expect("an integer argument");
    let floats = |v: &Value| -> Vec<f64> {
        v.as_array()
            .expect("a list of values")
            .iter()
            .map(|x| x.as_f64().expect("a number"))
            .collect()
    };
    let float = |i: usize| items[i].as_f64().expect("a number");
    match items[0].as_str().expect("a draw kind") {
        "u" => Draw {
            kind: DrawKind::Uniform,
            values: vec![float(1)],
        },
        "i" => Draw {
            kind: DrawKind::Randint {
                low: int(1),
                high: int(2),
            },
            values: vec![float(3)],
        },
        "un" => Draw {
            kind: DrawKind::UniformN { n: int(1) as usize },
            values: floats(&items[2]),
        },
        "in" => Draw {
            kind: DrawKind::RandintN {
                low: int(1),
                high: int(2),
                n: int(3) as usize,
            },
            values: floats(&items[4]),
        },
        other => panic!("unknown draw kind {other:?}"),
    }
}

/// A [`ReplayRng`] the test can still look at once the environment owns it.
#[derive(Clone)]
struct Shared(Arc<Mutex<ReplayRng>>);

impl Shared {
    fn consumed(&self) -> usize {
        self.0.lock().unwrap().consumed()
    }
}

impl MinAtarRng for Shared {
    fn reseed(&mut self, seed: u64) {
        self.0.lock().unwrap().reseed(seed)
    }
    fn uniform(&mut self) -> f64 {
        self.0.lock().unwrap().uniform()
    }
    fn randint(&mut self, low: i64, high: i64) -> i64 {
        self.0.lock().unwrap().randint(low, high)
    }
    fn uniform_n(&mut self, n: usize) -> Vec<f64> {
        self.0.lock().unwrap().uniform_n(n)
    }
    fn randint_n(&mut self, low: i64, high: i64, n: usize) -> Vec<i64> {
        self.0.lock().unwrap().randint_n(low, high, n)
    }
}

/// The observation packed as `numpy.packbits` packs the reference's state, in hex.
fn packed_hex(obs: &Observation) -> String {
    let Observation::Vector(cells) = obs else {
        panic!("MinAtar observations are boxes of f32")
    };
    cells
        .chunks(8)
        .map(|chunk| {
            let byte = chunk.iter().enumerate().fold(0u8, |acc, (i, &c)| {
                assert!(c == 0.0 || c == 1.0, "cell value {c} is not 0 or 1");
                acc | ((c as u8) << (7 - i))
            });
            format!("{byte:02x}")
        })
        .collect()
}

/// Replay a recording; returns (episodes, steps) compared.
fn replay<G: Game>(game: &str) -> (usize, usize) {
    let recording = load(game);
    assert_eq!(recording.channels, G::CHANNELS);
    let draws: Vec<Draw> = recording
        .episodes
        .iter()
        .flat_map(|e| e.reset_draws.iter().chain(e.draws.iter().flatten()))
        .map(parse_draw)
        .collect();
    let rng = Shared(Arc::new(Mutex::new(ReplayRng::new(draws))));
    let config = MinAtarConfig {
        minimal_action_set: false,
        sticky_action_prob: recording.sticky_action_prob,
        difficulty_ramping: recording.difficulty_ramping,
    };
    let mut env = MinAtar::<G>::with_rng(config, Box::new(rng.clone()));
    let mut expected_draws = 0;
    let mut steps = 0;
    for (e, episode) in recording.episodes.iter().enumerate() {
        let obs = env.reset(None).unwrap();
        expected_draws += episode.reset_draws.len();
        assert_eq!(
            rng.consumed(),
            expected_draws,
            "{game} episode {e}: reset draws"
        );
        assert_eq!(
            packed_hex(&obs),
            episode.initial_state,
            "{game} episode {e}: initial state"
        );
        for t in 0..episode.actions.len() {
            let at = format!("{game} episode {e} step {t}");
            let step = env.step(&Action::Discrete(episode.actions[t])).unwrap();
            expected_draws += episode.draws[t].len();
            assert_eq!(rng.consumed(), expected_draws, "{at}: number of draws");
            assert_eq!(
                packed_hex(&step.obs),
                episode.states[t],
                "{at}: state (action {}, last executed {:?})",
                episode.actions[t],
                env.last_action()
            );
            assert_eq!(step.reward, episode.rewards[t] as f32, "{at}: reward");
            assert_eq!(
                step.terminated || step.truncated,
                episode.terminals[t],
                "{at}: terminal"
            );
            steps += 1;
        }
    }
    eprintln!(
        "{game}: {} episodes, {steps} steps agree with minatar 1.0.15",
        recording.episodes.len()
    );
    (recording.episodes.len(), steps)
}

#[test]
fn breakout_matches_minatar() {
    let (episodes, steps) = replay::<Breakout>("breakout");
    assert!(episodes >= 3 && steps >= 300);
}

#[test]
fn freeway_matches_minatar() {
    let (episodes, steps) = replay::<Freeway>("freeway");
    // One full episode (2500 frames and the one that ends it), one partial.
    assert!(episodes >= 2 && steps >= 2501 + 300);
}

#[test]
fn asterix_matches_minatar() {
    let (episodes, steps) = replay::<Asterix>("asterix");
    assert!(episodes >= 5 && steps >= 500);
}

#[test]
fn space_invaders_matches_minatar() {
    let (episodes, steps) = replay::<SpaceInvaders>("space_invaders");
    assert!(episodes >= 3 && steps >= 300);
}

#[test]
fn seaquest_matches_minatar() {
    let (episodes, steps) = replay::<Seaquest>("seaquest");
    assert!(episodes >= 5 && steps >= 300);
}
