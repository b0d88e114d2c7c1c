//! Pendulum-v1: swing a torque-limited pendulum up and hold it upright.
//!
//! As in Gymnasium 1.x `pendulum.py`: float64 state `[theta, theta_dot]`,
//! semi-implicit Euler with `dt = 0.05`, speed clipped to 8, torque clipped to
//! `[-2, 2]`, reward `-(theta^2 + 0.1 theta_dot^2 + 0.001 u^2)` with theta
//! normalised to `[-pi, pi)`. It never terminates; it is truncated after 200
//! steps. The torque enters as `f32`, as numpy's type promotion does there.

use std::f64::consts::PI;

use rand::RngExt;

use super::canvas::{BLACK, Canvas, WHITE, bar};
use super::{Episode, scalar_action};
use crate::{Action, Env, EnvError, Frame, Observation, Space, Step};

const MAX_SPEED: f64 = 8.0;
const MAX_TORQUE: f32 = 2.0;
const DT: f64 = 0.05;
const G: f64 = 10.0;
const M: f64 = 1.0;
const L: f64 = 1.0;

/// Pendulum-v1. Observation `[cos theta, sin theta, theta_dot]`; the action
/// is a torque in a one-element box `[-2, 2]` (values outside are clipped).
#[derive(Debug)]
pub struct Pendulum {
    state: [f64; 2],
    last_u: Option<f32>,
    episode: Episode,
    observation_space: Space,
    action_space: Space,
}

impl Pendulum {
    /// The registered id.
    pub const ID: &'static str = "Pendulum-v1";
    /// Gymnasium's `max_episode_steps` for this id.
    pub const MAX_EPISODE_STEPS: u32 = 200;

    /// A fresh environment (call `reset` before stepping).
    pub fn new() -> Self {
        let high = [1.0, 1.0, MAX_SPEED as f32];
        Self {
            state: [0.0; 2],
            last_u: None,
            episode: Episode::new(Self::MAX_EPISODE_STEPS),
            observation_space: Space::Box {
                shape: vec![3],
                low: high.iter().map(|h| -h).collect(),
                high: high.to_vec(),
            },
            action_space: Space::uniform_box(vec![1], -MAX_TORQUE, MAX_TORQUE),
        }
    }

    /// The internal float64 state `[theta, theta_dot]` (Gymnasium's `unwrapped.state`).
    pub fn state(&self) -> [f64; 2] {
        self.state
    }

    /// Overwrite the internal state, as assigning `unwrapped.state` does in
    /// Gymnasium. The episode's step count and status are unchanged.
    pub fn set_state(&mut self, state: [f64; 2]) {
        self.state = state;
    }

    fn obs(&self) -> Observation {
        let [theta, theta_dot] = self.state;
        Observation::Vector(vec![
            theta.cos() as f32,
            theta.sin() as f32,
            theta_dot as f32,
        ])
    }
}

impl Default for Pendulum {
    fn default() -> Self {
        Self::new()
    }
}

/// Python's `((x + pi) % (2 pi)) - pi`, whose `%` takes the divisor's sign.
fn angle_normalize(x: f64) -> f64 {
    (x + PI).rem_euclid(2.0 * PI) - PI
}

impl Env for Pendulum {
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
        self.state = [rng.random_range(-PI..PI), rng.random_range(-1.0..1.0)];
        self.last_u = None;
        Ok(self.obs())
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let u = scalar_action(Self::ID, action)?.clamp(-MAX_TORQUE, MAX_TORQUE);
        self.episode.check_step(Self::ID)?;
        self.last_u = Some(u);
        let [th, thdot] = self.state;
        // numpy keeps `0.001 * u**2` and `3.0 / (m l^2) * u` in float32
        // (the Python float is a weak scalar) and widens afterwards.
        let torque_cost = 0.001f32 * (u * u);
        let costs = angle_normalize(th).powi(2) + 0.1 * (thdot * thdot) + f64::from(torque_cost);
        let torque_acc = (3.0 / (M * L * L)) as f32 * u;
        let newthdot = thdot + (3.0 * G / (2.0 * L) * th.sin() + f64::from(torque_acc)) * DT;
        let newthdot = newthdot.clamp(-MAX_SPEED, MAX_SPEED);
        let newth = th + newthdot * DT;
        self.state = [newth, newthdot];
        let truncated = self.episode.advance(false);
        Ok(Step {
            obs: self.obs(),
            reward: (-costs) as f32,
            terminated: false,
            truncated,
        })
    }

    /// A 64x64 front view: the rod, pivot and a bar under the pivot showing
    /// the last torque (Gymnasium draws a curved arrow there).
    fn render(&self) -> Option<Frame> {
        if !self.episode.started {
            return None;
        }
        let size = 64usize;
        let scale = size as f64 / 4.4;
        let centre = size as f64 / 2.0;
        let flip = |(x, y): (f64, f64)| (x as f32, (size as f64 - y) as f32);
        let mut canvas = Canvas::new(size, size, WHITE);
        let red = [204, 77, 77];
        let angle = self.state[0] + PI / 2.0;
        let rod = bar((centre, centre), angle, scale, 0.2 * scale).map(flip);
        canvas.fill_polygon(&rod, red);
        let (tip_x, tip_y) = flip((centre + scale * angle.cos(), centre + scale * angle.sin()));
        canvas.fill_circle(tip_x, tip_y, (0.1 * scale) as f32, red);
        canvas.fill_circle(centre as f32, centre as f32, (0.1 * scale) as f32, red);
        canvas.fill_circle(centre as f32, centre as f32, (0.05 * scale) as f32, BLACK);
        if let Some(u) = self.last_u {
            let y = (size - 6) as f32;
            let end = centre as f32 + u / MAX_TORQUE * (0.5 * scale) as f32;
            canvas.line((centre as f32, y), (end, y), 2.0, BLACK);
        }
        Some(canvas.into_frame())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angle_normalize_matches_python_modulo() {
        assert!((angle_normalize(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-12);
        assert!((angle_normalize(-3.0 * PI / 2.0) - PI / 2.0).abs() < 1e-12);
        assert_eq!(angle_normalize(0.0), 0.0);
    }

    #[test]
    fn hanging_still_with_no_torque_costs_pi_squared() {
        let mut env = Pendulum::new();
        env.reset(Some(0)).unwrap();
        env.set_state([PI, 0.0]);
        let step = env.step(&Action::Continuous(vec![0.0])).unwrap();
        assert!((step.reward + (PI * PI) as f32).abs() < 1e-5);
        assert!(!step.terminated);
    }

    #[test]
    fn torque_is_clipped_and_speed_bounded() {
        let mut a = Pendulum::new();
        let mut b = Pendulum::new();
        a.reset(Some(0)).unwrap();
        b.reset(Some(0)).unwrap();
        let sa = a.step(&Action::Continuous(vec![5.0])).unwrap();
        let sb = b.step(&Action::Continuous(vec![2.0])).unwrap();
        assert_eq!(sa, sb);
        a.set_state([0.0, 100.0]);
        a.step(&Action::Continuous(vec![0.0])).unwrap();
        assert_eq!(a.state()[1], MAX_SPEED);
    }

    #[test]
    fn truncates_after_200_steps() {
        let mut env = Pendulum::new();
        env.reset(Some(2)).unwrap();
        let truncations: Vec<bool> = (0..200)
            .map(|_| env.step(&Action::Continuous(vec![0.0])).unwrap().truncated)
            .collect();
        assert!(truncations[199] && truncations[..199].iter().all(|t| !t));
        assert!(env.render().is_some());
    }
}
