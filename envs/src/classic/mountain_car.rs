//! MountainCar-v0: drive an underpowered car up a hill by rocking it.
//!
//! Moore (1990), as in Gymnasium 1.x `mountain_car.py`: float64 state
//! `[position, velocity]`, velocity clipped to `0.07`, position clipped to
//! `[-1.2, 0.6]` with an inelastic left wall, reward -1 per step,
//! termination at `position >= 0.5` with non-negative velocity, truncation
//! after 200 steps.

use rand::RngExt;

use super::canvas::{BLACK, Canvas, WHITE};
use super::{Episode, discrete_action};
use crate::{Action, Env, EnvError, Frame, Observation, Space, Step};

const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.5;
const GOAL_VELOCITY: f64 = 0.0;
const FORCE: f64 = 0.001;
const GRAVITY: f64 = 0.0025;

/// MountainCar-v0. Observation `[position, velocity]`; actions 0, 1, 2
/// accelerate left, not at all, right.
#[derive(Debug)]
pub struct MountainCar {
    state: [f64; 2],
    episode: Episode,
    observation_space: Space,
    action_space: Space,
}

impl MountainCar {
    /// The registered id.
    pub const ID: &'static str = "MountainCar-v0";
    /// Gymnasium's `max_episode_steps` for this id.
    pub const MAX_EPISODE_STEPS: u32 = 200;

    /// A fresh environment (call `reset` before stepping).
    pub fn new() -> Self {
        Self {
            state: [0.0; 2],
            episode: Episode::new(Self::MAX_EPISODE_STEPS),
            observation_space: Space::Box {
                shape: vec![2],
                low: vec![MIN_POSITION as f32, -MAX_SPEED as f32],
                high: vec![MAX_POSITION as f32, MAX_SPEED as f32],
            },
            action_space: Space::Discrete { n: 3 },
        }
    }

    /// The internal float64 state `[position, velocity]` (Gymnasium's `unwrapped.state`).
    pub fn state(&self) -> [f64; 2] {
        self.state
    }

    /// Overwrite the internal state, as assigning `unwrapped.state` does in
    /// Gymnasium. The episode's step count and status are unchanged.
    pub fn set_state(&mut self, state: [f64; 2]) {
        self.state = state;
    }

    fn obs(&self) -> Observation {
        Observation::Vector(self.state.iter().map(|&v| v as f32).collect())
    }
}

impl Default for MountainCar {
    fn default() -> Self {
        Self::new()
    }
}

/// Height of the track at `x`.
fn height(x: f64) -> f64 {
    (3.0 * x).sin() * 0.45 + 0.55
}

impl Env for MountainCar {
    fn id(&self) -> &str {
        Self::ID
    }

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<Observation, EnvError> {
        let rng = self.episode.reset(seed);
        self.state = [rng.random_range(-0.6..-0.4), 0.0];
        Ok(self.obs())
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let action = discrete_action(Self::ID, action, 3)?;
        self.episode.check_step(Self::ID)?;
        let [mut position, mut velocity] = self.state;
        velocity += (action as f64 - 1.0) * FORCE + (3.0 * position).cos() * (-GRAVITY);
        velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
        position += velocity;
        position = position.clamp(MIN_POSITION, MAX_POSITION);
        if position == MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        let terminated = position >= GOAL_POSITION && velocity >= GOAL_VELOCITY;
        self.state = [position, velocity];
        let truncated = self.episode.advance(terminated);
        Ok(Step {
            obs: self.obs(),
            reward: -1.0,
            terminated,
            truncated,
        })
    }

    /// A 96x64 side view: the track, the goal flag and the car.
    fn render(&self) -> Option<Frame> {
        if !self.episode.started {
            return None;
        }
        let (width, height_px) = (96usize, 64usize);
        let scale = width as f64 / (MAX_POSITION - MIN_POSITION);
        let px = width as f64 / 600.0; // Pixels per Gymnasium pixel.
        let flip = |(x, y): (f64, f64)| (x as f32, (height_px as f64 - y) as f32);
        let to_screen = |x: f64| ((x - MIN_POSITION) * scale, height(x) * scale);
        let mut canvas = Canvas::new(width, height_px, WHITE);
        let track: Vec<(f64, f64)> = (0..=48)
            .map(|i| to_screen(MIN_POSITION + (MAX_POSITION - MIN_POSITION) * i as f64 / 48.0))
            .collect();
        for pair in track.windows(2) {
            canvas.line(flip(pair[0]), flip(pair[1]), 1.0, BLACK);
        }
        let (flag_x, flag_y) = to_screen(GOAL_POSITION);
        let pole_top = flag_y + 50.0 * px;
        canvas.line(flip((flag_x, flag_y)), flip((flag_x, pole_top)), 1.0, BLACK);
        let flag = [
            (flag_x, pole_top),
            (flag_x, pole_top - 10.0 * px),
            (flag_x + 25.0 * px, pole_top - 5.0 * px),
        ]
        .map(flip);
        canvas.fill_polygon(&flag, [204, 204, 0]);
        let pos = self.state[0];
        let (cx, cy) = to_screen(pos);
        let clearance = 10.0 * px;
        let (s, c) = (3.0 * pos).cos().sin_cos();
        let rotate = |(u, v): (f64, f64)| (cx + u * c - v * s, cy + clearance + u * s + v * c);
        let (half_w, car_h) = (20.0 * px, 20.0 * px);
        let car = [
            (-half_w, 0.0),
            (-half_w, car_h),
            (half_w, car_h),
            (half_w, 0.0),
        ]
        .map(|p| flip(rotate(p)));
        canvas.fill_polygon(&car, BLACK);
        for u in [half_w / 2.0, -half_w / 2.0] {
            let (wx, wy) = flip(rotate((u, 0.0)));
            canvas.fill_circle(wx, wy, (car_h / 2.5) as f32, [128, 128, 128]);
        }
        Some(canvas.into_frame())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_wall_stops_the_car() {
        let mut env = MountainCar::new();
        env.reset(Some(0)).unwrap();
        env.set_state([-1.19, -0.05]);
        env.step(&Action::Discrete(0)).unwrap();
        assert_eq!(env.state(), [MIN_POSITION, 0.0]);
    }

    #[test]
    fn reaching_the_flag_terminates() {
        let mut env = MountainCar::new();
        let obs = env.reset(Some(0)).unwrap();
        assert!(
            matches!(&obs, Observation::Vector(v) if v[1] == 0.0 && (-0.6..-0.4).contains(&v[0]))
        );
        env.set_state([0.49, 0.05]);
        let step = env.step(&Action::Discrete(2)).unwrap();
        assert!(step.terminated && step.reward == -1.0);
    }

    #[test]
    fn truncates_after_200_steps() {
        let mut env = MountainCar::new();
        env.reset(Some(0)).unwrap();
        let last = (0..200)
            .map(|_| env.step(&Action::Discrete(1)).unwrap())
            .last()
            .unwrap();
        assert!(last.truncated && !last.terminated);
        assert!(env.render().is_some());
    }
}
