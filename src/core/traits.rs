//! The traits of the core. See the module overview in [`crate::core`].

use burn::tensor::{Device, Int, Tensor};

use super::{Noise, ObsBatch};
use crate::nn::dist::{Bernoulli, BinnedScalar, BoundedNormal, OneHotCategorical};
use crate::nn::symlog::symlog;

/// A batch of latent states of some dynamics model.
///
/// States are values: models take them and return new ones. The trait
/// gives planners what they need to search over states without knowing
/// what is inside (the RSSM's deterministic and stochastic parts, or
/// MuZero's hidden state).
pub trait LatentState: Clone + Send + Sized {
    /// The features heads read `[B, F]`.
    fn features(&self) -> Tensor<2>;
    /// The batch size `B`.
    fn batch(&self) -> usize;
    /// The states at `indices [N]`, as a batch of `N`.
    fn select(&self, indices: Tensor<1, Int>) -> Self;
    /// Concatenate batches.
    fn cat(states: Vec<Self>) -> Self;
    /// The same state with gradients stopped.
    fn detach(self) -> Self;
}

/// Maps observations to embeddings.
pub trait Encoder {
    /// Width `E` of an embedding.
    fn embed_width(&self) -> usize;
    /// # Shapes
    /// a batch of `B` observations -> `[B, E]`
    fn encode(&self, obs: &ObsBatch) -> Tensor<2>;
}

/// The posterior and prior of one `observe` step.
#[derive(Debug, Clone)]
pub struct Observed<S> {
    /// The state after seeing the observation.
    pub posterior: S,
    /// The state the model predicted without seeing it.
    pub prior: S,
}

/// Carries a latent state through time.
pub trait Dynamics {
    /// The latent state.
    type State: LatentState;

    /// Width `F` of [`LatentState::features`].
    fn feature_width(&self) -> usize;

    /// The state before the first observation of a batch of `batch` episodes.
    fn initial(&self, batch: usize, device: &Device) -> Self::State;

    /// One step on real data: from `state`, having taken `action [B, A]`,
    /// see `embed [B, E]`. Where `is_first [B]` is 1 the episode restarts:
    /// state and action are replaced by the initial ones before the step.
    fn observe(
        &self,
        state: &Self::State,
        action: Tensor<2>,
        embed: Tensor<2>,
        is_first: Tensor<1>,
        noise: &mut Noise,
    ) -> Observed<Self::State>;

    /// One step in imagination: the predicted state after `action [B, A]`.
    fn imagine(&self, state: &Self::State, action: Tensor<2>, noise: &mut Noise) -> Self::State;
}

/// Reconstructs observations from state features (DreamerV3's decoder).
pub trait ObservationModel {
    /// # Shapes
    /// `[B, F]` -> a prediction of a batch of `B` observations
    fn decode(&self, features: Tensor<2>) -> ObservationPrediction;
}

/// A predicted observation batch.
#[derive(Debug, Clone)]
pub enum ObservationPrediction {
    /// Vector observations predicted in symlog space `[B, D]`.
    SymlogVector(Tensor<2>),
    /// Images in the encoder's scaled space `[B, H, W, C]`.
    Image(Tensor<4>),
}

impl ObservationPrediction {
    /// The reconstruction loss per element `[B]`: symlog squared error summed
    /// over features for vectors, squared error summed over pixels for images.
    pub fn loss(&self, target: &ObsBatch) -> Tensor<1> {
        match (self, target) {
            (ObservationPrediction::SymlogVector(pred), ObsBatch::Vector(target)) => (pred.clone()
                - symlog(target.clone()))
            .powi_scalar(2)
            .sum_dim(1)
            .squeeze_dim::<1>(1),
            (ObservationPrediction::Image(pred), ObsBatch::Image(target)) => (pred.clone()
                - target.clone())
            .powi_scalar(2)
            .flatten::<2>(1, 3)
            .sum_dim(1)
            .squeeze_dim::<1>(1),
            _ => panic!("observation prediction and target are of different kinds"),
        }
    }
}

/// Predicts the reward of the transition into a state.
pub trait RewardModel {
    /// # Shapes
    /// `[B, F]` -> distribution over `[B]`
    fn reward(&self, features: Tensor<2>) -> BinnedScalar;
}

/// Predicts whether the episode continues after a state.
pub trait ContinueModel {
    /// # Shapes
    /// `[B, F]` -> distribution over `[B]`
    fn continuation(&self, features: Tensor<2>) -> Bernoulli;
}

/// Predicts the value (expected discounted return) of a state.
pub trait ValueModel {
    /// # Shapes
    /// `[B, F]` -> distribution over `[B]`
    fn value(&self, features: Tensor<2>) -> BinnedScalar;
}

/// A policy's action distribution.
// The variants hold tensors of different sizes; distributions are made once
// per call and moved, never stored in bulk, so boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum PolicyDistribution {
    /// Discrete actions, one-hot `[B, A]`.
    Discrete(OneHotCategorical<2>),
    /// Continuous actions in [-1, 1] `[B, A]`.
    Continuous(BoundedNormal),
}

impl PolicyDistribution {
    /// A sample `[B, A]`: one-hot for discrete (no gradient), reparameterised for continuous.
    pub fn sample(&self, noise: &mut Noise) -> Tensor<2> {
        match self {
            PolicyDistribution::Discrete(dist) => {
                let [b, _] = dist.log_probs.dims();
                dist.sample(noise.uniform_tensor([b, 1], &dist.log_probs.device()))
            }
            PolicyDistribution::Continuous(dist) => {
                let shape = dist.mean.dims();
                dist.sample(noise.normal_tensor(shape, &dist.mean.device()))
            }
        }
    }

    /// The greedy action `[B, A]`.
    pub fn mode(&self) -> Tensor<2> {
        match self {
            PolicyDistribution::Discrete(dist) => dist.mode(),
            PolicyDistribution::Continuous(dist) => dist.mode(),
        }
    }

    /// Log-probability of `action [B, A]`, `[B]`.
    pub fn log_prob(&self, action: Tensor<2>) -> Tensor<1> {
        match self {
            PolicyDistribution::Discrete(dist) => dist.log_prob(action).squeeze_dim::<1>(1),
            PolicyDistribution::Continuous(dist) => dist.log_prob(action),
        }
    }

    /// Entropy `[B]`.
    pub fn entropy(&self) -> Tensor<1> {
        match self {
            PolicyDistribution::Discrete(dist) => dist.entropy().squeeze_dim::<1>(1),
            PolicyDistribution::Continuous(dist) => dist.entropy(),
        }
    }

    /// Action probabilities `[B, A]` for discrete policies (search priors).
    pub fn probs(&self) -> Option<Tensor<2>> {
        match self {
            PolicyDistribution::Discrete(dist) => Some(dist.probs()),
            PolicyDistribution::Continuous(_) => None,
        }
    }

    /// The distributions of `parts` stacked along the batch, in order (for
    /// example one per imagined step). Panics on an empty list or a mix of
    /// discrete and continuous parts.
    pub fn cat(parts: Vec<PolicyDistribution>) -> PolicyDistribution {
        let discrete = matches!(parts.first(), Some(PolicyDistribution::Discrete(_)));
        if discrete {
            let log_probs = parts
                .into_iter()
                .map(|p| match p {
                    PolicyDistribution::Discrete(d) => d.log_probs,
                    PolicyDistribution::Continuous(_) => panic!("cat: mixed policy kinds"),
                })
                .collect();
            PolicyDistribution::Discrete(OneHotCategorical {
                log_probs: Tensor::cat(log_probs, 0),
            })
        } else {
            let (means, stds): (Vec<_>, Vec<_>) = parts
                .into_iter()
                .map(|p| match p {
                    PolicyDistribution::Continuous(d) => (d.mean, d.std),
                    PolicyDistribution::Discrete(_) => panic!("cat: mixed policy kinds"),
                })
                .unzip();
            assert!(!means.is_empty(), "cat: no policy distributions");
            PolicyDistribution::Continuous(BoundedNormal {
                mean: Tensor::cat(means, 0),
                std: Tensor::cat(stds, 0),
            })
        }
    }
}

/// Maps state features to an action distribution.
pub trait PolicyModel {
    /// # Shapes
    /// `[B, F]` -> distribution over `[B, A]`
    fn policy(&self, features: Tensor<2>) -> PolicyDistribution;
}

/// What planners need of a world model: dynamics and the heads that score
/// imagined transitions.
pub trait WorldModel {
    /// The dynamics model.
    type Dynamics: Dynamics;
    /// The dynamics.
    fn dynamics(&self) -> &Self::Dynamics;
    /// The reward of transitions into states with `features [B, F]`.
    fn reward(&self, features: Tensor<2>) -> BinnedScalar;
    /// The expected reward `[B]` of the transition that led into each of
    /// `states`: what planners back up and imagined returns sum. By
    /// default the mean of [`Self::reward`] on the states' features; a
    /// model whose reward depends on more than the features (EfficientZero's
    /// value prefix, carried in the state) overrides it.
    fn transition_reward(&self, states: &<Self::Dynamics as Dynamics>::State) -> Tensor<1> {
        self.reward(states.features()).mean()
    }
    /// Whether episodes continue after such states; `None` when the model
    /// has no continue head (every imagined step continues).
    fn continuation(&self, features: Tensor<2>) -> Option<Bernoulli>;
}

/// What a planner returns for a batch of states.
#[derive(Debug, Clone)]
pub struct PlanOutput {
    /// The chosen actions `[B, A]` (one-hot for discrete action spaces).
    pub actions: Tensor<2>,
    /// An improved policy to train the policy head on, where the planner
    /// produces one (MCTS visit counts, Gumbel's completed-Q policy) `[B, A]`.
    pub policy_target: Option<Tensor<2>>,
    /// The search value of each root, where the planner produces one `[B]`.
    pub value_target: Option<Tensor<1>>,
}

/// Chooses actions by using a world model, a value and a policy prior.
pub trait Planner<M: WorldModel> {
    /// Plan from `states` (a batch of the model's latent states).
    fn plan(
        &mut self,
        model: &M,
        value: &dyn ValueModel,
        policy: &dyn PolicyModel,
        states: &<M::Dynamics as Dynamics>::State,
        noise: &mut Noise,
    ) -> PlanOutput;
}
