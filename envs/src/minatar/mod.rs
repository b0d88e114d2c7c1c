//! MinAtar (Young & Tian 2019): five miniature Atari games on a 10x10 grid.
//!
//! Each game is a port of the Python package `minatar` 1.0.15
//! (`minatar/environments/*.py`), keeping its order of updates and its
//! quirks, so that, fed the same random draws, our games produce the same
//! states, rewards and episode ends as the reference. `tests/minatar_conformance.rs`
//! checks this against runs recorded by `scripts/record_minatar.py`.
//!
//! [`MinAtar`] plays the part of minatar's `Environment` plus its Gymnasium
//! wrapper (`minatar/gym.py`):
//!
//! * Observations are the game's boolean state as zeros and ones in a
//!   `[10, 10, C]` box of `f32` (HWC), as minatar's Gymnasium wrapper
//!   declares `Box(0, 1, (10, 10, C))`. A box rather than a `u8` image so
//!   that agents read the cells as values in [0, 1], not as 0..255 pixels.
//! * Sticky actions with probability 0.1, exactly as `Environment.act`: every
//!   step draws one uniform float first, and if it is below 0.1 the previous
//!   executed action is used instead, and stays the previous action. As in
//!   minatar, the previous action starts at no-op and is kept across
//!   `reset(None)`; unlike minatar it returns to no-op on `reset(Some(seed))`,
//!   so that a seed alone determines an episode.
//! * Difficulty ramping is on (Asterix, Seaquest, Space Invaders ramp).
//! * `-v0` ids accept all six actions `[noop, left, up, right, down, fire]`;
//!   `-v1` ids only the game's minimal action set, in minatar's order.
//!
//! Episode ends: every terminal condition of the reference is reported as
//! `terminated`, except Freeway's 2500-frame timer, which is not part of the
//! observation and is reported as `truncated` (see [`freeway`]). No other
//! time limit is added (minatar's registration has none).
//!
//! Randomness goes through [`MinAtarRng`], with exactly the kinds of draws
//! the reference makes, so that tests can inject the reference's draws
//! ([`ReplayRng`]); production uses [`StdMinAtarRng`], seeded by `reset`.

pub mod asterix;
pub mod breakout;
pub mod freeway;
mod rng;
pub mod seaquest;
pub mod space_invaders;

pub use asterix::Asterix;
pub use breakout::Breakout;
pub use freeway::Freeway;
pub use rng::{DEFAULT_SEED, Draw, DrawKind, MinAtarRng, ReplayRng, StdMinAtarRng};
pub use seaquest::Seaquest;
pub use space_invaders::SpaceInvaders;

use crate::{Action, Env, EnvError, EnvSpec, Frame, Observation, Space, Step};

/// Side of the square grid.
pub const GRID: usize = 10;
/// minatar's sticky-action probability.
pub const STICKY_ACTION_PROB: f64 = 0.1;
/// Pixels per grid cell in [`Env::render`] frames.
pub const RENDER_SCALE: usize = 10;

/// The six MinAtar actions, numbered as in minatar's `action_map`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Act {
    /// `n`: do nothing.
    Noop = 0,
    /// `l`: move left.
    Left = 1,
    /// `u`: move up.
    Up = 2,
    /// `r`: move right.
    Right = 3,
    /// `d`: move down.
    Down = 4,
    /// `f`: fire.
    Fire = 5,
}

impl Act {
    /// All six actions, in minatar's order (the `-v0` action set).
    pub const ALL: [Act; 6] = [
        Act::Noop,
        Act::Left,
        Act::Up,
        Act::Right,
        Act::Down,
        Act::Fire,
    ];
}

/// What one game step produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// The reward (minatar's rewards are integers).
    pub reward: i32,
    /// The game reached a terminal state.
    pub terminated: bool,
    /// The game ended on a timer outside the observation (Freeway).
    pub truncated: bool,
}

impl Outcome {
    /// What acting in an ended game returns: no reward, ended again.
    pub const TERMINATED: Outcome = Outcome {
        reward: 0,
        terminated: true,
        truncated: false,
    };
}

/// A 10x10xC boolean grid stored as HWC `u8`, the layout of observations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    channels: usize,
    cells: Vec<u8>,
}

impl Grid {
    /// An all-zero grid with `channels` channels.
    pub fn new(channels: usize) -> Self {
        Self {
            channels,
            cells: vec![0; GRID * GRID * channels],
        }
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Set cell (`row`, `col`) of channel `channel`. Negative indices count
    /// from the end, as numpy's do (minatar relies on this in places).
    pub fn set(&mut self, row: i32, col: i32, channel: usize) {
        let wrap = |i: i32| -> usize {
            let i = if i < 0 { i + GRID as i32 } else { i };
            debug_assert!((0..GRID as i32).contains(&i), "index {i} out of the grid");
            i as usize
        };
        let index = (wrap(row) * GRID + wrap(col)) * self.channels + channel;
        self.cells[index] = 1;
    }

    /// Whether cell (`row`, `col`) of `channel` is set.
    pub fn get(&self, row: usize, col: usize, channel: usize) -> bool {
        self.cells[(row * GRID + col) * self.channels + channel] != 0
    }

    /// Clear every cell.
    pub fn clear(&mut self) {
        self.cells.fill(0);
    }

    /// The cells, HWC.
    pub fn cells(&self) -> &[u8] {
        &self.cells
    }
}

/// One MinAtar game: the part of minatar's `environments/<game>.py` below
/// the shared `Environment` wrapper.
pub trait Game: Send + 'static {
    /// The `-v0` id (all six actions), as minatar's Gymnasium registration names it.
    const ID_V0: &'static str;
    /// The `-v1` id (minimal action set).
    const ID_V1: &'static str;
    /// Number of state channels.
    const CHANNELS: usize;
    /// The minimal action set, in minatar's order.
    const MINIMAL_ACTIONS: &'static [Act];

    /// A game with difficulty ramping on or off (call [`Game::reset`] before acting).
    fn new(ramping: bool) -> Self;
    /// Start a new episode.
    fn reset(&mut self, rng: &mut dyn MinAtarRng);
    /// Advance one frame under `action`. Acting after the end returns a zero
    /// reward and the end again, as minatar does.
    fn act(&mut self, action: Act, rng: &mut dyn MinAtarRng) -> Outcome;
    /// Write the state into `grid` (which the caller has cleared).
    fn state(&self, grid: &mut Grid);
    /// The current level of the difficulty ramp, for games that ramp.
    fn difficulty_ramp(&self) -> Option<u32> {
        None
    }
}

/// Options of a [`MinAtar`] environment; the default is minatar's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinAtarConfig {
    /// Accept only the game's minimal action set (the `-v1` ids).
    pub minimal_action_set: bool,
    /// Probability of repeating the previous action.
    pub sticky_action_prob: f64,
    /// Whether games that ramp their difficulty do so.
    pub difficulty_ramping: bool,
}

impl Default for MinAtarConfig {
    fn default() -> Self {
        Self {
            minimal_action_set: false,
            sticky_action_prob: STICKY_ACTION_PROB,
            difficulty_ramping: true,
        }
    }
}

/// A MinAtar game as an [`Env`]: minatar's `Environment` and Gymnasium
/// wrapper around a [`Game`].
pub struct MinAtar<G: Game> {
    game: G,
    rng: Box<dyn MinAtarRng>,
    config: MinAtarConfig,
    actions: &'static [Act],
    last_action: Act,
    running: bool,
    started: bool,
    grid: Grid,
    observation_space: Space,
    action_space: Space,
}

impl<G: Game> MinAtar<G> {
    /// The registered environment: `minimal` selects the `-v1` id.
    pub fn new(minimal: bool) -> Self {
        let config = MinAtarConfig {
            minimal_action_set: minimal,
            ..MinAtarConfig::default()
        };
        Self::with_rng(config, Box::new(StdMinAtarRng::default()))
    }

    /// An environment with the given options and random source.
    pub fn with_rng(config: MinAtarConfig, rng: Box<dyn MinAtarRng>) -> Self {
        let actions: &'static [Act] = if config.minimal_action_set {
            G::MINIMAL_ACTIONS
        } else {
            &Act::ALL
        };
        Self {
            game: G::new(config.difficulty_ramping),
            rng,
            config,
            actions,
            last_action: Act::Noop,
            running: false,
            started: false,
            grid: Grid::new(G::CHANNELS),
            observation_space: Space::uniform_box(vec![GRID, GRID, G::CHANNELS], 0.0, 1.0),
            action_space: Space::Discrete { n: actions.len() },
        }
    }

    /// The game, for inspection.
    pub fn game(&self) -> &G {
        &self.game
    }

    /// The game, for setting up situations in tests.
    pub fn game_mut(&mut self) -> &mut G {
        &mut self.game
    }

    /// The actions the discrete action indices stand for.
    pub fn action_set(&self) -> &[Act] {
        self.actions
    }

    /// The last executed action (what a sticky action repeats).
    pub fn last_action(&self) -> Act {
        self.last_action
    }

    /// The current state: zeros and ones, `[10, 10, C]` row-major.
    pub fn observation(&mut self) -> Observation {
        self.grid.clear();
        self.game.state(&mut self.grid);
        Observation::Vector(self.grid.cells().iter().map(|&c| f32::from(c)).collect())
    }
}

impl<G: Game> Env for MinAtar<G> {
    fn id(&self) -> &str {
        if self.config.minimal_action_set {
            G::ID_V1
        } else {
            G::ID_V0
        }
    }

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<Observation, EnvError> {
        if let Some(seed) = seed {
            self.rng.reseed(seed);
            self.last_action = Act::Noop;
        }
        self.game.reset(self.rng.as_mut());
        self.running = true;
        self.started = true;
        Ok(self.observation())
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let n = self.actions.len();
        let index = match action {
            Action::Discrete(a) if *a < n => *a,
            Action::Discrete(a) => {
                return Err(EnvError::InvalidAction {
                    env: self.id().to_string(),
                    problem: format!("discrete action {a} is out of range 0..{n}"),
                });
            }
            Action::Continuous(_) => {
                return Err(EnvError::InvalidAction {
                    env: self.id().to_string(),
                    problem: format!("expected a discrete action in 0..{n}, got a continuous one"),
                });
            }
        };
        if !self.running {
            let problem = if self.started {
                "step called after the episode ended; call reset first"
            } else {
                "step called before reset"
            };
            return Err(EnvError::BadCall {
                env: self.id().to_string(),
                problem: problem.to_string(),
            });
        }
        let mut act = self.actions[index];
        // minatar's Environment.act: the draw happens on every step.
        if self.rng.uniform() < self.config.sticky_action_prob {
            act = self.last_action;
        }
        self.last_action = act;
        let outcome = self.game.act(act, self.rng.as_mut());
        if outcome.terminated || outcome.truncated {
            self.running = false;
        }
        Ok(Step {
            obs: self.observation(),
            reward: outcome.reward as f32,
            terminated: outcome.terminated,
            truncated: outcome.truncated,
        })
    }

    /// The grid scaled up [`RENDER_SCALE`] times, each cell coloured by the
    /// highest set channel (black where none is), as minatar's display does.
    fn render(&self) -> Option<Frame> {
        if !self.started {
            return None;
        }
        let mut grid = Grid::new(G::CHANNELS);
        self.game.state(&mut grid);
        let side = GRID * RENDER_SCALE;
        let mut rgb = vec![0u8; side * side * 3];
        for row in 0..GRID {
            for col in 0..GRID {
                let Some(channel) = (0..G::CHANNELS).rev().find(|&c| grid.get(row, col, c)) else {
                    continue;
                };
                let colour = PALETTE[channel % PALETTE.len()];
                for y in row * RENDER_SCALE..(row + 1) * RENDER_SCALE {
                    for x in col * RENDER_SCALE..(col + 1) * RENDER_SCALE {
                        rgb[(y * side + x) * 3..][..3].copy_from_slice(&colour);
                    }
                }
            }
        }
        Some(Frame {
            height: side,
            width: side,
            rgb,
        })
    }
}

/// A game of type `G` with ramping on, reset with a seeded generator (for
/// the games' unit tests).
#[cfg(test)]
pub(crate) fn started<G: Game>() -> (G, StdMinAtarRng) {
    let mut rng = StdMinAtarRng::new(0);
    let mut game = G::new(true);
    game.reset(&mut rng);
    (game, rng)
}

/// One colour per channel (up to ten), distinct on black.
const PALETTE: [[u8; 3]; 10] = [
    [230, 230, 230],
    [230, 80, 60],
    [90, 170, 240],
    [250, 200, 40],
    [110, 210, 110],
    [200, 110, 220],
    [60, 210, 200],
    [240, 140, 60],
    [150, 150, 250],
    [180, 230, 120],
];

fn spec<G: Game>(minimal: bool, reference: &'static str) -> EnvSpec {
    EnvSpec {
        id: if minimal { G::ID_V1 } else { G::ID_V0 },
        reference,
        make: if minimal {
            || Box::new(MinAtar::<G>::new(true))
        } else {
            || Box::new(MinAtar::<G>::new(false))
        },
    }
}

/// The registry entries of the MinAtar family: `-v0` and `-v1` of each game.
pub fn specs() -> Vec<EnvSpec> {
    const REF: &str = "minatar 1.0.15 (PyPI), minatar/environments and minatar/gym.py";
    vec![
        spec::<Asterix>(false, REF),
        spec::<Asterix>(true, REF),
        spec::<Breakout>(false, REF),
        spec::<Breakout>(true, REF),
        spec::<Freeway>(false, REF),
        spec::<Freeway>(true, REF),
        spec::<Seaquest>(false, REF),
        spec::<Seaquest>(true, REF),
        spec::<SpaceInvaders>(false, REF),
        spec::<SpaceInvaders>(true, REF),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_has_both_versions_of_every_game() {
        let ids: Vec<_> = specs().iter().map(|s| s.id).collect();
        for game in [
            "Asterix",
            "Breakout",
            "Freeway",
            "Seaquest",
            "SpaceInvaders",
        ] {
            for v in ["v0", "v1"] {
                let id = format!("MinAtar/{game}-{v}");
                assert!(ids.contains(&id.as_str()), "{id} missing");
                let env = crate::make(&id).unwrap();
                assert_eq!(env.id(), id);
            }
        }
    }

    #[test]
    fn grid_wraps_negative_indices_like_numpy() {
        let mut grid = Grid::new(2);
        grid.set(-1, -1, 1);
        assert!(grid.get(9, 9, 1));
        assert_eq!(grid.cells().iter().filter(|&&c| c == 1).count(), 1);
    }

    #[test]
    fn sticky_actions_repeat_the_last_executed_action() {
        // Draw 0.05 (< 0.1) repeats the previous action (no-op at first),
        // and the repeated action stays the previous one.
        let draws = |values: &[f64]| {
            values
                .iter()
                .map(|&v| Draw {
                    kind: DrawKind::Uniform,
                    values: vec![v],
                })
                .collect::<Vec<_>>()
        };
        let mut recorded = vec![Draw {
            kind: DrawKind::Randint { low: 0, high: 2 },
            values: vec![0.0],
        }];
        recorded.extend(draws(&[0.5, 0.05, 0.05, 0.5]));
        let mut env = MinAtar::<Breakout>::with_rng(
            MinAtarConfig::default(),
            Box::new(ReplayRng::new(recorded)),
        );
        env.reset(None).unwrap();
        env.step(&Action::Discrete(3)).unwrap(); // right, executed
        assert_eq!(env.last_action(), Act::Right);
        env.step(&Action::Discrete(1)).unwrap(); // sticky: right again
        assert_eq!(env.last_action(), Act::Right);
        env.step(&Action::Discrete(0)).unwrap(); // sticky: right again
        assert_eq!(env.game().paddle(), 7);
        env.step(&Action::Discrete(1)).unwrap(); // left, executed
        assert_eq!(env.last_action(), Act::Left);
        assert_eq!(env.game().paddle(), 6);
    }

    #[test]
    fn minimal_action_sets_map_to_minatar_actions() {
        let env = MinAtar::<Breakout>::new(true);
        assert_eq!(env.action_set(), &[Act::Noop, Act::Left, Act::Right]);
        assert_eq!(env.action_space(), &Space::Discrete { n: 3 });
        assert_eq!(MinAtar::<Breakout>::new(false).action_set().len(), 6);
    }

    #[test]
    fn render_colours_cells() {
        let mut env = MinAtar::<Breakout>::new(false);
        assert!(env.render().is_none());
        env.reset(Some(0)).unwrap();
        let frame = env.render().unwrap();
        assert_eq!((frame.height, frame.width), (100, 100));
        // Bricks fill rows 1..4: the cell (1, 0) is coloured, (0, 0) is black
        // unless the ball is there.
        let pixel = |y: usize, x: usize| &frame.rgb[(y * 100 + x) * 3..][..3];
        assert_eq!(pixel(15, 55), &PALETTE[3]);
        assert_eq!(pixel(55, 55), &[0, 0, 0]);
    }
}
