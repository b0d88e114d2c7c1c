//! Acrobot-v1: swing the tip of a two-link chain above a line by torquing
//! the middle joint.
//!
//! Sutton (1996) / Sutton and Barto's book dynamics, as in Gymnasium 1.x
//! `acrobot.py` (`book_or_nips = "book"`, no torque noise): one RK4 step of
//! `dt = 0.2` per action, angles wrapped to `[-pi, pi]`, velocities bounded
//! by `4 pi` and `9 pi`, reward -1 per step and 0 on the terminating step,
//! truncation after 500 steps. As in Gymnasium the initial state is drawn in
//! float64, rounded to float32, and integrated in float64 thereafter.

use std::f64::consts::PI;

use rand::RngExt;

use super::canvas::{BLACK, Canvas, WHITE, bar};
use super::{Episode, discrete_action};
use crate::{Action, Env, EnvError, Frame, Observation, Space, Step};

const DT: f64 = 0.2;
const LINK_LENGTH_1: f64 = 1.0;
const LINK_LENGTH_2: f64 = 1.0;
const LINK_MASS_1: f64 = 1.0;
const LINK_MASS_2: f64 = 1.0;
const LINK_COM_POS_1: f64 = 0.5;
const LINK_COM_POS_2: f64 = 0.5;
const LINK_MOI: f64 = 1.0;
const MAX_VEL_1: f64 = 4.0 * PI;
const MAX_VEL_2: f64 = 9.0 * PI;
const AVAIL_TORQUE: [f64; 3] = [-1.0, 0.0, 1.0];

/// Acrobot-v1. State `[theta1, theta2, dtheta1, dtheta2]`; observation
/// `[cos t1, sin t1, cos t2, sin t2, dt1, dt2]`; actions 0, 1, 2 apply
/// torque -1, 0, +1.
#[derive(Debug)]
pub struct Acrobot {
    state: [f64; 4],
    episode: Episode,
    observation_space: Space,
    action_space: Space,
}

impl Acrobot {
    /// The registered id.
    pub const ID: &'static str = "Acrobot-v1";
    /// Gymnasium's `max_episode_steps` for this id.
    pub const MAX_EPISODE_STEPS: u32 = 500;

    /// A fresh environment (call `reset` before stepping).
    pub fn new() -> Self {
        let high = [1.0, 1.0, 1.0, 1.0, MAX_VEL_1 as f32, MAX_VEL_2 as f32];
        Self {
            state: [0.0; 4],
            episode: Episode::new(Self::MAX_EPISODE_STEPS),
            observation_space: Space::Box {
                shape: vec![6],
                low: high.iter().map(|h| -h).collect(),
                high: high.to_vec(),
            },
            action_space: Space::Discrete { n: 3 },
        }
    }

    /// The internal float64 state `[theta1, theta2, dtheta1, dtheta2]`
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
        let [t1, t2, d1, d2] = self.state;
        Observation::Vector(
            [t1.cos(), t1.sin(), t2.cos(), t2.sin(), d1, d2]
                .map(|v| v as f32)
                .to_vec(),
        )
    }

    fn terminal(&self) -> bool {
        let [t1, t2, ..] = self.state;
        -t1.cos() - (t2 + t1).cos() > 1.0
    }
}

impl Default for Acrobot {
    fn default() -> Self {
        Self::new()
    }
}

/// The time derivative of `[theta1, theta2, dtheta1, dtheta2, torque]`
/// (Gymnasium's `_dsdt`, book version), in the same operation order.
fn dsdt(s: [f64; 5]) -> [f64; 5] {
    let (m1, m2, l1) = (LINK_MASS_1, LINK_MASS_2, LINK_LENGTH_1);
    let (lc1, lc2) = (LINK_COM_POS_1, LINK_COM_POS_2);
    let (i1, i2) = (LINK_MOI, LINK_MOI);
    let g = 9.8;
    let [theta1, theta2, dtheta1, dtheta2, a] = s;
    let d1 =
        m1 * (lc1 * lc1) + m2 * (l1 * l1 + lc2 * lc2 + 2.0 * l1 * lc2 * theta2.cos()) + i1 + i2;
    let d2 = m2 * (lc2 * lc2 + l1 * lc2 * theta2.cos()) + i2;
    let phi2 = m2 * lc2 * g * (theta1 + theta2 - PI / 2.0).cos();
    let phi1 = -m2 * l1 * lc2 * (dtheta2 * dtheta2) * theta2.sin()
        - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * theta2.sin()
        + (m1 * lc1 + m2 * l1) * g * (theta1 - PI / 2.0).cos()
        + phi2;
    let ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * (dtheta1 * dtheta1) * theta2.sin() - phi2)
        / (m2 * (lc2 * lc2) + i2 - (d2 * d2) / d1);
    let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    [dtheta1, dtheta2, ddtheta1, ddtheta2, 0.0]
}

/// One classical Runge-Kutta step of length `dt` (Gymnasium's `rk4` over `[0, dt]`).
fn rk4(y0: [f64; 5], dt: f64) -> [f64; 5] {
    let dt2 = dt / 2.0;
    let add = |y: [f64; 5], h: f64, k: [f64; 5]| std::array::from_fn(|i| y[i] + h * k[i]);
    let k1 = dsdt(y0);
    let k2 = dsdt(add(y0, dt2, k1));
    let k3 = dsdt(add(y0, dt2, k2));
    let k4 = dsdt(add(y0, dt, k3));
    std::array::from_fn(|i| y0[i] + dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

/// Gymnasium's `wrap`: shift by whole periods into `[m, big_m]`.
fn wrap(mut x: f64, m: f64, big_m: f64) -> f64 {
    let diff = big_m - m;
    while x > big_m {
        x -= diff;
    }
    while x < m {
        x += diff;
    }
    x
}

/// Gymnasium's `bound`: `min(max(x, m), big_m)`.
fn bound(x: f64, m: f64, big_m: f64) -> f64 {
    x.max(m).min(big_m)
}

impl Env for Acrobot {
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
        self.state = std::array::from_fn(|_| f64::from(rng.random_range(-0.1f64..0.1) as f32));
        Ok(self.obs())
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let action = discrete_action(Self::ID, action, 3)?;
        self.episode.check_step(Self::ID)?;
        let [t1, t2, d1, d2] = self.state;
        let ns = rk4([t1, t2, d1, d2, AVAIL_TORQUE[action]], DT);
        self.state = [
            wrap(ns[0], -PI, PI),
            wrap(ns[1], -PI, PI),
            bound(ns[2], -MAX_VEL_1, MAX_VEL_1),
            bound(ns[3], -MAX_VEL_2, MAX_VEL_2),
        ];
        let terminated = self.terminal();
        let truncated = self.episode.advance(terminated);
        Ok(Step {
            obs: self.obs(),
            reward: if terminated { 0.0 } else { -1.0 },
            terminated,
            truncated,
        })
    }

    /// A 64x64 front view: the goal line, both links and their joints.
    fn render(&self) -> Option<Frame> {
        if !self.episode.started {
            return None;
        }
        let size = 64usize;
        let scale = size as f64 / (2.0 * (LINK_LENGTH_1 + LINK_LENGTH_2 + 0.2));
        let offset = size as f64 / 2.0;
        let flip = |(x, y): (f64, f64)| (x as f32, (size as f64 - y) as f32);
        let mut canvas = Canvas::new(size, size, WHITE);
        let goal_y = scale + offset;
        canvas.line(flip((0.0, goal_y)), flip((size as f64, goal_y)), 1.0, BLACK);
        let [t1, t2, ..] = self.state;
        let elbow = (
            offset + LINK_LENGTH_1 * t1.sin() * scale,
            offset - LINK_LENGTH_1 * t1.cos() * scale,
        );
        let links = [
            ((offset, offset), t1 - PI / 2.0, LINK_LENGTH_1),
            (elbow, t1 + t2 - PI / 2.0, LINK_LENGTH_2),
        ];
        for (joint, angle, length) in links {
            let link = bar(joint, angle, length * scale, 0.2 * scale).map(flip);
            canvas.fill_polygon(&link, [0, 204, 204]);
            let (x, y) = flip(joint);
            canvas.fill_circle(x, y, (0.1 * scale) as f32, [204, 204, 0]);
        }
        Some(canvas.into_frame())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_and_bound_follow_gymnasium() {
        assert!((wrap(3.5 * PI, -PI, PI) + 0.5 * PI).abs() < 1e-12);
        assert!((wrap(-1.5 * PI, -PI, PI) - 0.5 * PI).abs() < 1e-12);
        assert_eq!(bound(5.0, -1.0, 1.0), 1.0);
        assert_eq!(bound(-5.0, -1.0, 1.0), -1.0);
    }

    #[test]
    fn hanging_at_rest_without_torque_stays_put() {
        let mut env = Acrobot::new();
        env.reset(Some(0)).unwrap();
        env.set_state([0.0; 4]);
        let step = env.step(&Action::Discrete(1)).unwrap();
        assert!(env.state().iter().all(|v| v.abs() < 1e-12));
        assert_eq!(step.reward, -1.0);
        assert!(!step.terminated);
    }

    #[test]
    fn upright_chain_terminates_with_reward_zero() {
        let mut env = Acrobot::new();
        env.reset(Some(0)).unwrap();
        env.set_state([PI, 0.0, 0.0, 0.0]);
        let step = env.step(&Action::Discrete(1)).unwrap();
        assert!(step.terminated);
        assert_eq!(step.reward, 0.0);
        assert!(env.step(&Action::Discrete(1)).is_err());
    }

    #[test]
    fn initial_state_is_float32_rounded() {
        let mut env = Acrobot::new();
        env.reset(Some(5)).unwrap();
        for v in env.state() {
            assert_eq!(f64::from(v as f32), v);
            assert!(v.abs() <= 0.1);
        }
        assert_eq!(env.render().unwrap().rgb.len(), 64 * 64 * 3);
    }
}
