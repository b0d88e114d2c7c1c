//! One config switch between every way of choosing actions, and the
//! planner it builds: acting by the policy alone, pUCT or Gumbel tree
//! search, CEM or MPPI. Each works on any [`WorldModel`], so an agent that
//! owns an [`AnyPlanner`] can act with any of them (`dreamer.planner.kind`).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{MctsPlanner, SamplingConfig, SamplingKind, SamplingPlanner, SearchConfig, SearchKind};
use crate::config::{Validate, Validator};
use crate::core::{
    Dynamics, LatentState, Noise, PlanOutput, Planner, PolicyDistribution, PolicyModel, ValueModel,
    WorldModel,
};
use crate::nn::dist::{BinSpace, BinnedScalar, OneHotCategorical};
use crate::{Error, Result};

/// Which planner acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlannerKind {
    /// No search: sample the policy (its mode when evaluating).
    Policy,
    /// MuZero's pUCT tree search (discrete actions).
    Puct,
    /// Gumbel MuZero's search (discrete actions).
    Gumbel,
    /// The cross-entropy method over action sequences.
    Cem,
    /// MPPI over action sequences.
    Mppi,
}

impl PlannerKind {
    /// Every kind, for tests and docs that cover them all.
    pub const ALL: [PlannerKind; 5] = [
        PlannerKind::Policy,
        PlannerKind::Puct,
        PlannerKind::Gumbel,
        PlannerKind::Cem,
        PlannerKind::Mppi,
    ];

    /// Whether the kind needs discrete actions.
    pub fn needs_discrete_actions(self) -> bool {
        matches!(self, PlannerKind::Puct | PlannerKind::Gumbel)
    }
}

/// How an agent chooses actions from its world model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlannerConfig {
    /// `policy`, `puct`, `gumbel`, `cem` or `mppi`.
    pub kind: PlannerKind,
    /// Tree-search settings (`puct`, `gumbel`; the search kind follows `kind`).
    pub search: SearchConfig,
    /// Sampling settings (`cem`, `mppi`; the sampling kind follows `kind`).
    pub sampling: SamplingConfig,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig {
            kind: PlannerKind::Policy,
            search: SearchConfig::default(),
            sampling: SamplingConfig::default(),
        }
    }
}

impl Validate for PlannerConfig {
    fn validate(&self, v: &mut Validator) {
        v.section("search", |v| self.search.validate(v));
        v.section("sampling", |v| self.sampling.validate(v));
    }
}

/// Acting by the policy alone, as a [`Planner`]: DreamerV3's way.
#[derive(Debug, Clone)]
pub struct PolicyPlanner {
    /// Sample the policy (collecting) or take its mode (evaluating).
    pub explore: bool,
}

impl<M: WorldModel> Planner<M> for PolicyPlanner {
    fn plan(
        &mut self,
        _model: &M,
        value: &dyn ValueModel,
        policy: &dyn PolicyModel,
        states: &<M::Dynamics as Dynamics>::State,
        noise: &mut Noise,
    ) -> PlanOutput {
        let features = states.features().detach();
        let dist = policy.policy(features.clone());
        let actions = if self.explore {
            dist.sample(noise)
        } else {
            dist.mode()
        };
        PlanOutput {
            actions: actions.detach(),
            policy_target: dist.probs().map(|p| p.detach()),
            value_target: Some(value.value(features).mean().detach()),
        }
    }
}

/// Any of the planners, chosen by a [`PlannerConfig`].
pub enum AnyPlanner {
    /// [`PolicyPlanner`].
    Policy(PolicyPlanner),
    /// [`MctsPlanner`] (pUCT or Gumbel), with a noiseless copy for greedy play.
    Tree {
        /// The configured search, with its root noise (collecting).
        explore: Box<MctsPlanner>,
        /// The same search without root noise, temperature 0 (evaluating).
        greedy: Box<MctsPlanner>,
        /// Which of the two plans.
        exploring: bool,
    },
    /// [`SamplingPlanner`] (CEM or MPPI).
    Sampling(SamplingPlanner),
}

impl AnyPlanner {
    /// The planner `config` asks for, over `actions` discrete actions or
    /// continuous dimensions. Tree search over continuous actions is an error.
    pub fn new(
        config: &PlannerConfig,
        actions: usize,
        discrete: bool,
        discount: f32,
    ) -> Result<Self> {
        if config.kind.needs_discrete_actions() && !discrete {
            return Err(Error::Unsupported(format!(
                "planner.kind = \"{}\" searches a tree over discrete actions, and this \
                 environment's actions are continuous; use \"policy\", \"cem\" or \"mppi\"",
                serde_json::to_value(config.kind)
                    .expect("kind")
                    .as_str()
                    .expect("a string")
            )));
        }
        Ok(match config.kind {
            PlannerKind::Policy => AnyPlanner::Policy(PolicyPlanner { explore: true }),
            PlannerKind::Puct | PlannerKind::Gumbel => {
                let kind = if config.kind == PlannerKind::Puct {
                    SearchKind::Puct
                } else {
                    SearchKind::Gumbel
                };
                let search = SearchConfig {
                    kind,
                    ..config.search.clone()
                };
                // Greedy play drops the root noise (Dirichlet, Gumbel) and
                // takes the best action, as MuZero's evaluation does.
                let quiet = SearchConfig {
                    dirichlet_fraction: 0.0,
                    gumbel_scale: 0.0,
                    ..search.clone()
                };
                let mut greedy = MctsPlanner::new(quiet, actions, discount);
                greedy.temperature = 0.0;
                AnyPlanner::Tree {
                    explore: Box::new(MctsPlanner::new(search, actions, discount)),
                    greedy: Box::new(greedy),
                    exploring: true,
                }
            }
            PlannerKind::Cem | PlannerKind::Mppi => {
                let kind = if config.kind == PlannerKind::Cem {
                    SamplingKind::Cem
                } else {
                    SamplingKind::Mppi
                };
                let sampling = SamplingConfig {
                    kind,
                    ..config.sampling.clone()
                };
                AnyPlanner::Sampling(SamplingPlanner::new(sampling, actions, discrete, discount))
            }
        })
    }

    /// [`Planner::plan`] for acting in environments, keeping what the
    /// next step starts from in `carry` (one per set of environments): the
    /// sampling planner's fitted means with `warm_start` (TD-MPC), shifted
    /// by a step and cleared where `is_first`; nothing for other planners.
    #[allow(clippy::too_many_arguments)]
    pub fn plan_acting<M: WorldModel>(
        &mut self,
        model: &M,
        value: &dyn ValueModel,
        policy: &dyn PolicyModel,
        states: &<M::Dynamics as Dynamics>::State,
        carry: &mut Option<Tensor<3>>,
        is_first: &[bool],
        noise: &mut Noise,
    ) -> PlanOutput {
        match self {
            AnyPlanner::Sampling(p) if p.config().warm_start => {
                let warm = carry
                    .take()
                    .filter(|m| m.dims()[0] == is_first.len())
                    .map(|m| SamplingPlanner::shifted(m, is_first));
                let (out, fitted) = p.plan_from(model, value, policy, states, warm, noise);
                *carry = fitted;
                out
            }
            _ => self.plan(model, value, policy, states, noise),
        }
    }

    /// Explore (collecting) or act greedily (evaluating).
    pub fn set_explore(&mut self, explore: bool) {
        match self {
            AnyPlanner::Policy(p) => p.explore = explore,
            AnyPlanner::Tree { exploring, .. } => *exploring = explore,
            AnyPlanner::Sampling(p) => p.explore = explore,
        }
    }
}

impl<M: WorldModel> Planner<M> for AnyPlanner {
    fn plan(
        &mut self,
        model: &M,
        value: &dyn ValueModel,
        policy: &dyn PolicyModel,
        states: &<M::Dynamics as Dynamics>::State,
        noise: &mut Noise,
    ) -> PlanOutput {
        match self {
            AnyPlanner::Policy(p) => p.plan(model, value, policy, states, noise),
            AnyPlanner::Tree {
                explore,
                greedy,
                exploring,
            } => {
                let planner = if *exploring { explore } else { greedy };
                planner.plan(model, value, policy, states, noise)
            }
            AnyPlanner::Sampling(p) => p.plan(model, value, policy, states, noise),
        }
    }
}

/// A value of zero everywhere: planning on rewards alone (no critic).
#[derive(Debug, Clone, Copy, Default)]
pub struct ZeroValue;

impl ValueModel for ZeroValue {
    fn value(&self, features: Tensor<2>) -> BinnedScalar {
        let zeros = features
            .detach()
            .sum_dim(1)
            .squeeze_dim::<1>(1)
            .zeros_like();
        BinnedScalar::point(zeros, BinSpace::dreamer())
    }
}

/// A uniform prior over `actions` discrete actions: planning with no policy.
#[derive(Debug, Clone, Copy)]
pub struct UniformPolicy {
    /// The number of actions.
    pub actions: usize,
}

impl PolicyModel for UniformPolicy {
    fn policy(&self, features: Tensor<2>) -> PolicyDistribution {
        let batch = features.dims()[0];
        let logits = Tensor::zeros([batch, self.actions], &features.device());
        PolicyDistribution::Discrete(OneHotCategorical::new(logits, 0.0))
    }
}
