//! Adapters between our [`Env`] and the `Env` trait of the `gymnasium-rs`
//! crate (0.1.1), in both directions, behind the `gymnasium-rs` feature.
//!
//! `gymnasium-rs` is a small work in progress with Gymnasium's call shapes
//! (`reset(seed, options) -> (obs, info)`, `step -> (obs, reward,
//! terminated, truncated, info)`), observations as `ndarray::Array1<f32>` and
//! actions as `i32` (discrete) or `Array1<f32>` (continuous). Its build links
//! pyo3 0.19 and so needs a Python interpreter at build time, which is why
//! it is an opt-in feature; it is separate from the `python` bridge (see
//! `python/`), which needs no pyo3 at all.
//!
//! - [`FromGymRs`] runs a `gymnasium-rs` environment here: spaces are mapped
//!   (`Discrete(n)`, 1-D `Box`), our `u64` seed is passed as its `i32` (the
//!   low 32 bits), and our call-order contract (`reset` before `step`, no
//!   step after the episode ended, actions inside the space) is enforced
//!   here because `gymnasium-rs` does not check it.
//! - [`IntoGymRs`] runs one of ours under `gymnasium-rs`' trait. That trait
//!   cannot fail, so our errors (an invalid action, a dead Python worker)
//!   panic with their message; images are flattened to `f32` vectors.
//!
//! Note that `gymnasium-rs`' own CartPole differs from Gymnasium's (float32
//! state, reward 0 on the terminating step, no time limit); the adapters
//! pass through whatever the environment does.

use std::collections::HashMap;

use ::gymnasium_rs::core as gym;
use ndarray::{Array1, Array3};

use crate::{Action, Env, EnvError, Frame, Observation, Space, Step};

/// A `gymnasium-rs` observation type we can read.
pub trait GymRsObservation {
    /// Our observation.
    fn to_observation(&self) -> Observation;
}

impl GymRsObservation for Array1<f32> {
    fn to_observation(&self) -> Observation {
        Observation::Vector(self.to_vec())
    }
}

/// A `gymnasium-rs` action type we can produce and read.
pub trait GymRsAction: Sized {
    /// The `gymnasium-rs` action for ours, or why there is none.
    fn from_action(action: &Action) -> Result<Self, String>;
    /// Our action for the `gymnasium-rs` one.
    fn to_action(&self) -> Action;
}

impl GymRsAction for i32 {
    fn from_action(action: &Action) -> Result<Self, String> {
        match action {
            Action::Discrete(a) => i32::try_from(*a).map_err(|_| format!("action {a} exceeds i32")),
            Action::Continuous(_) => Err("expected a discrete action".into()),
        }
    }
    fn to_action(&self) -> Action {
        Action::Discrete(usize::try_from(*self).unwrap_or(usize::MAX))
    }
}

impl GymRsAction for Array1<f32> {
    fn from_action(action: &Action) -> Result<Self, String> {
        match action {
            Action::Continuous(v) => Ok(Array1::from(v.clone())),
            Action::Discrete(_) => Err("expected a continuous action".into()),
        }
    }
    fn to_action(&self) -> Action {
        Action::Continuous(self.to_vec())
    }
}

/// Our space for a `gymnasium-rs` space.
pub fn space_from_gym_rs(space: &gym::Space) -> Space {
    match space {
        gym::Space::Discrete(n) => Space::Discrete {
            n: usize::try_from(*n).unwrap_or(0),
        },
        gym::Space::Box { low, high } => Space::Box {
            shape: vec![low.len()],
            low: low.to_vec(),
            high: high.to_vec(),
        },
    }
}

/// The `gymnasium-rs` space for ours (images become flat boxes of 0..=255).
pub fn space_to_gym_rs(space: &Space) -> gym::Space {
    match space {
        Space::Discrete { n } => gym::Space::Discrete(i32::try_from(*n).unwrap_or(i32::MAX)),
        Space::Box { low, high, .. } => gym::Space::Box {
            low: Array1::from(low.clone()),
            high: Array1::from(high.clone()),
        },
        Space::Image { .. } => gym::Space::Box {
            low: Array1::zeros(space.flat_len()),
            high: Array1::from_elem(space.flat_len(), 255.0),
        },
    }
}

/// A `gymnasium-rs` environment as one of ours.
pub struct FromGymRs<E, O, A> {
    id: String,
    env: E,
    observation_space: Space,
    action_space: Space,
    /// Whether `render` calls through (`gymnasium-rs` 0.1.1's CartPole
    /// panics with `unimplemented!()` there).
    render: bool,
    started: bool,
    running: bool,
    _types: std::marker::PhantomData<fn(O, A)>,
}

impl<E, O, A> FromGymRs<E, O, A>
where
    E: gym::Env<O, A>,
{
    /// Wrap `env`, naming it `id` (e.g. `gymnasium-rs/CartPole`).
    pub fn new(id: impl Into<String>, env: E) -> Self {
        Self {
            id: id.into(),
            observation_space: space_from_gym_rs(&env.observation_space()),
            action_space: space_from_gym_rs(&env.action_space()),
            env,
            render: false,
            started: false,
            running: false,
            _types: std::marker::PhantomData,
        }
    }

    /// Call the wrapped environment's `render` from [`Env::render`]; off by
    /// default because some `gymnasium-rs` environments panic there.
    pub fn with_render(mut self, render: bool) -> Self {
        self.render = render;
        self
    }

    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.env
    }

    /// Unwrap.
    pub fn into_inner(self) -> E {
        self.env
    }
}

impl<E, O, A> Env for FromGymRs<E, O, A>
where
    E: gym::Env<O, A> + Send,
    O: GymRsObservation,
    A: GymRsAction,
{
    fn id(&self) -> &str {
        &self.id
    }

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<Observation, EnvError> {
        // gymnasium-rs seeds are i32: keep the low 32 bits.
        let (obs, _info) = self
            .env
            .reset(seed.map(|s| s as u32 as i32), HashMap::new());
        self.started = true;
        self.running = true;
        Ok(obs.to_observation())
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let invalid = |problem: String| EnvError::InvalidAction {
            env: self.id.clone(),
            problem,
        };
        match (&self.action_space, action) {
            (Space::Discrete { n }, Action::Discrete(a)) if a >= n => {
                return Err(invalid(format!(
                    "discrete action {a} is out of range 0..{n}"
                )));
            }
            (Space::Box { low, .. }, Action::Continuous(v)) if v.len() != low.len() => {
                return Err(invalid(format!(
                    "expected {} continuous values, got {}",
                    low.len(),
                    v.len()
                )));
            }
            _ => {}
        }
        let gym_action = A::from_action(action).map_err(invalid)?;
        if !self.running {
            return Err(EnvError::BadCall {
                env: self.id.clone(),
                problem: if self.started {
                    "step called after the episode ended; call reset first"
                } else {
                    "step called before reset"
                }
                .to_string(),
            });
        }
        let (obs, reward, terminated, truncated, _info) = self.env.step(gym_action);
        self.running = !(terminated || truncated);
        Ok(Step {
            obs: obs.to_observation(),
            reward,
            terminated,
            truncated,
        })
    }

    fn render(&self) -> Option<Frame> {
        if !self.render {
            return None;
        }
        let pixels = self.env.render()?;
        let (height, width, channels) = pixels.dim();
        let rgb = match channels {
            3 => pixels.iter().copied().collect(),
            1 => pixels.iter().flat_map(|&p| [p; 3]).collect(),
            _ => return None,
        };
        Some(Frame { height, width, rgb })
    }
}

/// One of our environments under `gymnasium-rs`' `Env` trait.
///
/// # Panics
/// `reset` and `step` panic with our error's message where ours fail (for
/// example an action outside the space, or a step after the episode ended),
/// because `gymnasium-rs`' trait has no way to return an error.
pub struct IntoGymRs<E> {
    env: E,
}

impl<E: Env> IntoGymRs<E> {
    /// Wrap `env`.
    pub fn new(env: E) -> Self {
        Self { env }
    }

    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.env
    }

    /// Unwrap.
    pub fn into_inner(self) -> E {
        self.env
    }

    fn obs(obs: Observation) -> Array1<f32> {
        match obs {
            Observation::Vector(v) => Array1::from(v),
            image => Array1::from(image.to_f32()),
        }
    }

    fn reset_inner(&mut self, seed: Option<i32>) -> (Array1<f32>, gym::Info) {
        // i32 seeds map to u64 by their bit pattern, so negative seeds stay distinct.
        let obs = self
            .env
            .reset(seed.map(|s| s as u32 as u64))
            .unwrap_or_else(|e| panic!("{e}"));
        (Self::obs(obs), HashMap::new())
    }

    fn step_inner(&mut self, action: Action) -> (Array1<f32>, gym::Reward, bool, bool, gym::Info) {
        let step = self.env.step(&action).unwrap_or_else(|e| panic!("{e}"));
        (
            Self::obs(step.obs),
            step.reward,
            step.terminated,
            step.truncated,
            HashMap::new(),
        )
    }

    fn render_inner(&self) -> Option<Array3<u8>> {
        let frame = self.env.render()?;
        Array3::from_shape_vec((frame.height, frame.width, 3), frame.rgb).ok()
    }
}

/// Discrete actions as `i32`.
impl<E: Env> gym::Env<Array1<f32>, i32> for IntoGymRs<E> {
    fn observation_space(&self) -> gym::Space {
        space_to_gym_rs(self.env.observation_space())
    }
    fn action_space(&self) -> gym::Space {
        space_to_gym_rs(self.env.action_space())
    }
    fn reset(&mut self, seed: Option<i32>, _options: gym::Options) -> (Array1<f32>, gym::Info) {
        self.reset_inner(seed)
    }
    fn step(&mut self, action: i32) -> (Array1<f32>, gym::Reward, bool, bool, gym::Info) {
        let action = Action::Discrete(usize::try_from(action).unwrap_or(usize::MAX));
        self.step_inner(action)
    }
    fn render(&self) -> Option<Array3<u8>> {
        self.render_inner()
    }
    fn close(&mut self) {}
}

/// Continuous actions as `Array1<f32>`.
impl<E: Env> gym::Env<Array1<f32>, Array1<f32>> for IntoGymRs<E> {
    fn observation_space(&self) -> gym::Space {
        space_to_gym_rs(self.env.observation_space())
    }
    fn action_space(&self) -> gym::Space {
        space_to_gym_rs(self.env.action_space())
    }
    fn reset(&mut self, seed: Option<i32>, _options: gym::Options) -> (Array1<f32>, gym::Info) {
        self.reset_inner(seed)
    }
    fn step(&mut self, action: Array1<f32>) -> (Array1<f32>, gym::Reward, bool, bool, gym::Info) {
        self.step_inner(Action::Continuous(action.to_vec()))
    }
    fn render(&self) -> Option<Array3<u8>> {
        self.render_inner()
    }
    fn close(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic::{CartPole, Pendulum};
    use ::gymnasium_rs::envs::cartpole::CartPole as GymRsCartPole;

    #[test]
    fn their_cartpole_runs_here_under_our_contract() {
        let mut env = FromGymRs::new("gymnasium-rs/CartPole", GymRsCartPole::new());
        assert_eq!(env.action_space(), &Space::Discrete { n: 2 });
        assert_eq!(env.observation_space().shape(), vec![4]);
        assert!(matches!(
            env.step(&Action::Discrete(0)),
            Err(EnvError::BadCall { .. })
        ));
        let first = env.reset(Some(7)).unwrap();
        assert_eq!(first, env.reset(Some(7)).unwrap(), "seeded resets agree");
        assert!(matches!(
            env.step(&Action::Discrete(2)),
            Err(EnvError::InvalidAction { .. })
        ));
        let mut steps = 0;
        loop {
            let step = env.step(&Action::Discrete(1)).unwrap();
            steps += 1;
            if step.terminated {
                break;
            }
        }
        assert!(steps < 100, "always pushing right ends quickly");
        assert!(env.step(&Action::Discrete(1)).is_err());
        assert!(env.render().is_none());
    }

    #[test]
    fn our_envs_run_under_their_trait() {
        let mut ours = IntoGymRs::new(CartPole::new());
        let cartpole: &mut dyn gym::Env<Array1<f32>, i32> = &mut ours;
        assert_eq!(cartpole.action_space(), gym::Space::Discrete(2));
        let (obs, _) = cartpole.reset_seed(3);
        assert_eq!(obs.len(), 4);
        let (_, reward, terminated, truncated, _) = cartpole.step(1);
        assert_eq!((reward, terminated, truncated), (1.0, false, false));
        assert!(cartpole.render().is_some());

        let mut pendulum = IntoGymRs::new(Pendulum::new());
        let pendulum: &mut dyn gym::Env<Array1<f32>, Array1<f32>> = &mut pendulum;
        pendulum.reset_default();
        let (obs, reward, ..) = pendulum.step(Array1::from(vec![0.5]));
        assert_eq!(obs.len(), 3);
        assert!(reward <= 0.0);
    }

    #[test]
    fn round_trip_through_both_adapters() {
        let mut env =
            FromGymRs::<_, Array1<f32>, i32>::new("ours", IntoGymRs::new(CartPole::new()));
        let mut native = CartPole::new();
        assert_eq!(env.observation_space(), native.observation_space());
        assert_eq!(env.reset(Some(5)).unwrap(), native.reset(Some(5)).unwrap());
        for t in 0..20 {
            let a = Action::Discrete(t % 2);
            assert_eq!(env.step(&a).unwrap(), native.step(&a).unwrap());
        }
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn their_trait_panics_with_our_error() {
        let mut ours = IntoGymRs::new(CartPole::new());
        let env: &mut dyn gym::Env<Array1<f32>, i32> = &mut ours;
        env.reset_default();
        env.step(5);
    }
}
