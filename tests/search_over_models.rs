//! The same tree search plans over different world models through the core
//! traits: MuZero's networks and a DreamerV3 world model (RSSM prior as
//! dynamics, continue head as discount, critic as value, actor as prior).
//! Untrained models, so this checks the plumbing (batched state gathering
//! across simulations, shapes, budgets), not the quality of the plans.

use burn::tensor::Device;
use somnium::core::{Dynamics, LatentState, Noise, ObsKind, Planner};
use somnium::dreamer::DreamerConfig;
use somnium::dreamer::networks::{Actor, Critic};
use somnium::dreamer::world_model::DreamerWorldModel;
use somnium::muzero::NetworkConfig;
use somnium::muzero::networks::MuzeroNet;
use somnium::nn::tensor_util::to_vec;
use somnium::planners::{MctsPlanner, SearchConfig, SearchKind};

const ACTIONS: usize = 3;
const BATCH: usize = 4;
const SIMULATIONS: usize = 12;

fn configs() -> Vec<SearchConfig> {
    [SearchKind::Puct, SearchKind::Gumbel]
        .into_iter()
        .map(|kind| SearchConfig {
            kind,
            simulations: SIMULATIONS,
            ..SearchConfig::default()
        })
        .collect()
}

fn check<M: somnium::core::WorldModel>(
    planner: &mut MctsPlanner,
    model: &M,
    value: &dyn somnium::core::ValueModel,
    policy: &dyn somnium::core::PolicyModel,
    states: &<M::Dynamics as Dynamics>::State,
) {
    let mut noise = Noise::new(0);
    let out = planner.search(model, value, policy, states, &mut noise);
    assert_eq!(out.actions.len(), BATCH);
    assert!(out.actions.iter().all(|&a| a < ACTIONS));
    for b in 0..BATCH {
        let visits: u32 = out.visits[b * ACTIONS..(b + 1) * ACTIONS].iter().sum();
        assert_eq!(
            visits as usize, SIMULATIONS,
            "every simulation passes the root"
        );
        let mass: f32 = out.policy[b * ACTIONS..(b + 1) * ACTIONS].iter().sum();
        assert!((mass - 1.0).abs() < 1e-4);
        assert!(out.value[b].is_finite());
    }
    let plan = planner.plan(model, value, policy, states, &mut noise);
    assert_eq!(plan.actions.dims(), [BATCH, ACTIONS]);
    let one_hot = to_vec(plan.actions);
    assert!(
        one_hot
            .chunks(ACTIONS)
            .all(|row| row.iter().sum::<f32>() == 1.0)
    );
}

#[test]
fn search_plans_over_muzero_networks() {
    let device = Device::flex();
    let config = NetworkConfig {
        support: 20,
        ..NetworkConfig::default()
    };
    let net = MuzeroNet::new(&config, ObsKind::Vector { width: 5 }, ACTIONS, &device);
    let obs = somnium::core::ObsBatch::from_flat(
        vec![0.5; BATCH * 5],
        BATCH,
        ObsKind::Vector { width: 5 },
        &device,
    );
    let states = net.represent(&obs);
    for config in configs() {
        let mut planner = MctsPlanner::new(config, ACTIONS, 0.99);
        check(&mut planner, &net, &net, &net, &states);
    }
}

#[test]
fn search_plans_over_a_dreamer_world_model() {
    let device = Device::flex();
    let mut config = DreamerConfig::default();
    config.rssm.deter = 32;
    config.rssm.hidden = 32;
    config.rssm.stoch = 4;
    config.rssm.classes = 4;
    config.heads.units = 32;
    config.encoder.mlp_units = 32;
    let model = DreamerWorldModel::new(&config, ObsKind::Vector { width: 5 }, ACTIONS, &device);
    let features = model.rssm.feature_width();
    let critic = Critic::new(features, &config.heads, config.norm, &device);
    let actor = Actor::new(features, ACTIONS, true, &config, &device);
    let states = model.rssm.initial(BATCH, &device);
    assert_eq!(states.batch(), BATCH);
    for search in configs() {
        let mut planner = MctsPlanner::new(search, ACTIONS, 0.997);
        check(&mut planner, &model, &critic, &actor, &states);
    }
}
