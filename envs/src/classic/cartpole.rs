//! CartPole-v1: balance a pole on a cart by pushing it left or right.
//!
//! Barto, Sutton and Anderson (1983), as in Gymnasium 1.x `cartpole.py`:
//! explicit Euler integration with `tau = 0.02`, float64 state, reward 1 on
//! every step including the terminating one, termination when
//! `|x| > 2.4` or `|theta| > 12 degrees`, truncation after 500 steps.

use rand::RngExt;

use super::canvas::{BLACK, Canvas, WHITE, bar};
use super::{Episode, discrete_action};
use crate::{Action, Env, EnvError, Frame, Observation, Space, Step};

const GRAVITY: f64 = 9.8;
const MASS_CART: f64 = 1.0;
const MASS_POLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASS_POLE + MASS_CART;
/// Half the pole's length.
const LENGTH: f64 = 0.5;
const POLE_MASS_LENGTH: f64 = MASS_POLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
const TAU: f64 = 0.02;
const THETA_THRESHOLD: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
const X_THRESHOLD: f64 = 2.4;

/// CartPole-v1. State `[x, x_dot, theta, theta_dot]`, observed as `f32`;
/// actions `0` (push left) and `1` (push right).
#[derive(Debug)]
pub struct CartPole {
    state: [f64; 4],
    episode: Episode,
    observation_space: Space,
    action_space: Space,
}

impl CartPole {
    /// The registered id.
    pub const ID: &'static str = "CartPole-v1";
    /// Gymnasium's `max_episode_steps` for this id.
    pub const MAX_EPISODE_STEPS: u32 = 500;

    /// A fresh environment (call `reset` before stepping).
    pub fn new() -> Self {
        let high = [
            (X_THRESHOLD * 2.0) as f32,
            f32::INFINITY,
            (THETA_THRESHOLD * 2.0) as f32,
            f32::INFINITY,
        ];
        Self {
            state: [0.0; 4],
            episode: Episode::new(Self::MAX_EPISODE_STEPS),
            observation_space: Space::Box {
                shape: vec![4],
                low: high.iter().map(|h| -h).collect(),
                high: high.to_vec(),
            },
            action_space: Space::Discrete { n: 2 },
        }
    }

    /// The internal float64 state `[x, x_dot, theta, theta_dot]`
    /// (Gymnasium's `unwrapped.state`).
    pub fn state(&self) -> [f64; 4] {
        self.state
    }

    /// Overwrite the internal state, as assigning `unwrapped.state` does in
    /// Gymnasium. The episode's step count and status are unchanged.
    pub fn set_state(&mut self, state: [f64; 4]) {
        self.state = state;
    }

    fn obs(&self) -> Observation {
        Observation::Vector(self.state.iter().map(|&v| v as f32).collect())
    }
}

impl Default for CartPole {
    fn default() -> Self {
        Self::new()
    }
}

impl Env for CartPole {
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
        self.state = std::array::from_fn(|_| rng.random_range(-0.05..0.05));
        Ok(self.obs())
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let action = discrete_action(Self::ID, action, 2)?;
        self.episode.check_step(Self::ID)?;
        let [mut x, mut x_dot, mut theta, mut theta_dot] = self.state;
        let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
        let costheta = theta.cos();
        let sintheta = theta.sin();
        // Same operation order as Gymnasium, so results agree to the last bit
        // wherever sin and cos do.
        let temp = (force + POLE_MASS_LENGTH * (theta_dot * theta_dot) * sintheta) / TOTAL_MASS;
        let thetaacc = (GRAVITY * sintheta - costheta * temp)
            / (LENGTH * (4.0 / 3.0 - MASS_POLE * (costheta * costheta) / TOTAL_MASS));
        let xacc = temp - POLE_MASS_LENGTH * thetaacc * costheta / TOTAL_MASS;
        x += TAU * x_dot;
        x_dot += TAU * xacc;
        theta += TAU * theta_dot;
        theta_dot += TAU * thetaacc;
        self.state = [x, x_dot, theta, theta_dot];
        // `|v| > t` is Gymnasium's `v < -t or v > t`, NaN included (false).
        let terminated = x.abs() > X_THRESHOLD || theta.abs() > THETA_THRESHOLD;
        let truncated = self.episode.advance(terminated);
        Ok(Step {
            obs: self.obs(),
            reward: 1.0,
            terminated,
            truncated,
        })
    }

    /// A 96x64 side view: track, cart and pole (Gymnasium's 600x400 scene, scaled).
    fn render(&self) -> Option<Frame> {
        if !self.episode.started {
            return None;
        }
        let (width, height) = (96usize, 64usize);
        let px = width as f64 / 600.0; // Pixels per Gymnasium pixel.
        let scale = width as f64 / (X_THRESHOLD * 2.0);
        let flip = |(x, y): (f64, f64)| (x as f32, (height as f64 - y) as f32);
        let mut canvas = Canvas::new(width, height, WHITE);
        let cart_y = 100.0 * px;
        let cart_x = self.state[0] * scale + width as f64 / 2.0;
        canvas.line(
            flip((0.0, cart_y)),
            flip((width as f64, cart_y)),
            1.0,
            BLACK,
        );
        let (half_w, half_h) = (25.0 * px, 15.0 * px);
        let cart = [
            (-half_w, -half_h),
            (-half_w, half_h),
            (half_w, half_h),
            (half_w, -half_h),
        ]
        .map(|(dx, dy)| flip((cart_x + dx, cart_y + dy)));
        canvas.fill_polygon(&cart, BLACK);
        let axle = (cart_x, cart_y + 7.5 * px);
        let pole = bar(
            axle,
            std::f64::consts::FRAC_PI_2 - self.state[2],
            scale * 2.0 * LENGTH,
            (10.0 * px).max(2.0),
        )
        .map(flip);
        canvas.fill_polygon(&pole, [202, 152, 101]);
        let (ax, ay) = flip(axle);
        canvas.fill_circle(ax, ay, 1.5, [129, 132, 203]);
        Some(canvas.into_frame())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_is_seeded_and_small() {
        let mut a = CartPole::new();
        let mut b = CartPole::new();
        assert_eq!(a.reset(Some(3)).unwrap(), b.reset(Some(3)).unwrap());
        assert!(a.state().iter().all(|v| v.abs() < 0.05));
    }

    #[test]
    fn pushing_right_tips_the_pole_left_and_ends_with_reward_one() {
        let mut env = CartPole::new();
        env.reset(Some(0)).unwrap();
        env.set_state([0.0; 4]);
        let step = env.step(&Action::Discrete(1)).unwrap();
        assert!(env.state()[3] < 0.0 && env.state()[1] > 0.0);
        assert_eq!(step.reward, 1.0);
        env.set_state([2.5, 0.0, 0.0, 0.0]);
        let last = env.step(&Action::Discrete(0)).unwrap();
        assert!(last.terminated && !last.truncated && last.reward == 1.0);
        assert!(matches!(
            env.step(&Action::Discrete(0)),
            Err(EnvError::BadCall { .. })
        ));
    }

    #[test]
    fn truncates_after_500_steps() {
        let mut env = CartPole::new();
        env.reset(Some(1)).unwrap();
        for t in 1..=500 {
            env.set_state([0.0; 4]);
            let step = env.step(&Action::Discrete(t % 2)).unwrap();
            assert_eq!(step.truncated, t == 500);
        }
    }

    #[test]
    fn renders_a_frame() {
        let mut env = CartPole::new();
        assert!(env.render().is_none());
        env.reset(Some(0)).unwrap();
        let frame = env.render().unwrap();
        assert_eq!(frame.rgb.len(), 96 * 64 * 3);
        assert!(frame.rgb.contains(&0));
    }
}
