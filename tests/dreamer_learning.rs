//! Learning signals of DreamerV3 on tiny problems, small enough for CI.
//!
//! The toy environment: two actions, reward 1 for action 1 and 0 for
//! action 0, episodes of 8 steps; the observation shows the previous action
//! and the time step. Its optimum is known (always action 1, return 8).

use burn::module::Module;
use burn::tensor::Tensor;
use somnium::core::{Dynamics, Encoder, Noise, ObsKind};
use somnium::dreamer::world_model::DeviceBatch;
use somnium::dreamer::{DreamerAgent, DreamerConfig, OptimizerKind};
use somnium::envs::{Action, Env, EnvError, Observation, Space, Step};
use somnium::nn::tensor_util::to_vec;
use somnium::replay::ReplayFractions;
use somnium::train::{ActingPolicy, Agent};

/// The agents seed their device's generator, which every test in this
/// binary shares: run concurrently, one test's draws would interleave with
/// the other's and make both depend on the scheduler. Each test holds
/// this for its whole length.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

struct PickOne {
    t: usize,
    obs_space: Space,
    act_space: Space,
}

impl PickOne {
    fn new() -> Self {
        PickOne {
            t: 0,
            obs_space: Space::uniform_box(vec![3], 0.0, 1.0),
            act_space: Space::Discrete { n: 2 },
        }
    }
    fn obs(&self, last: usize) -> Observation {
        let mut v = vec![0.0; 3];
        if self.t > 0 {
            v[last] = 1.0;
        }
        v[2] = self.t as f32 / 8.0;
        Observation::Vector(v)
    }
}

impl Env for PickOne {
    fn id(&self) -> &str {
        "PickOne"
    }
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.act_space
    }
    fn reset(&mut self, _seed: Option<u64>) -> Result<Observation, EnvError> {
        self.t = 0;
        Ok(self.obs(0))
    }
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let Action::Discrete(a) = *action else {
            panic!("discrete")
        };
        self.t += 1;
        Ok(Step {
            obs: self.obs(a),
            reward: a as f32,
            terminated: self.t >= 8,
            truncated: false,
        })
    }
}

/// Play `episodes` episodes (random actions or the agent's), recording into replay.
fn collect(
    agent: &mut DreamerAgent,
    env: &mut PickOne,
    episodes: usize,
    random: bool,
    noise: &mut Noise,
) -> f32 {
    let mut total = 0.0;
    for _ in 0..episodes {
        let mut obs = env.reset(None).unwrap();
        agent.record(0, &obs, None, 0.0, true, false);
        let mut first = true;
        loop {
            let action = if random {
                Action::Discrete(noise.below(2))
            } else {
                agent
                    .act(0, std::slice::from_ref(&obs), &[first], false)
                    .remove(0)
            };
            let step = env.step(&action).unwrap();
            total += step.reward;
            agent.record(
                0,
                &step.obs,
                Some(&action),
                step.reward,
                false,
                step.terminated,
            );
            obs = step.obs;
            first = false;
            if step.terminated {
                break;
            }
        }
    }
    total / episodes as f32
}

/// Play `episodes` episodes with a policy snapshot on a thread of its own,
/// as `run.async_actors` does; returns the mean return.
fn play_on_thread(mut policy: Box<dyn ActingPolicy>, episodes: usize) -> f32 {
    std::thread::spawn(move || {
        let mut env = PickOne::new();
        let mut total = 0.0;
        for _ in 0..episodes {
            let mut obs = env.reset(None).unwrap();
            let mut first = true;
            loop {
                let action = policy.act(std::slice::from_ref(&obs), &[first]).remove(0);
                let step = env.step(&action).unwrap();
                total += step.reward;
                (obs, first) = (step.obs, false);
                if step.terminated {
                    break;
                }
            }
        }
        total / episodes as f32
    })
    .join()
    .expect("the acting thread")
}

fn metric(metrics: &[(String, f64)], name: &str) -> f64 {
    metrics
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// Both optimiser designs, in turn (one test: burn's initialisers draw
/// from one global generator, and parallel tests would interleave draws).
#[test]
fn world_model_loss_falls_and_actor_finds_the_optimum() {
    let _alone = one_at_a_time();
    learns_pick_one(DreamerConfig::tiny(), "adam", 0);
    // The 2025 design's optimiser (LaProp with adaptive gradient clipping,
    // at a rate and warmup scaled to this tiny run) and its critic loss on
    // replay states.
    let mut design_2025 = DreamerConfig::tiny();
    design_2025.optimizer.kind = OptimizerKind::Laprop;
    design_2025.optimizer.laprop_lr = 1e-3;
    design_2025.optimizer.warmup = 10;
    design_2025.loss_scales.replay_critic = 0.3;
    design_2025.replay.context = 1;
    learns_pick_one(design_2025.clone(), "2025", 0);
    // Data parallelism: every batch split over two copies (here both on
    // flex), gradients summed before one optimiser step.
    learns_pick_one(DreamerConfig::tiny(), "2 replicas", 1);
    // The 2025 code's prioritised replay: half of every batch drawn by the
    // world model's loss at the windows' steps.
    let mut prioritised = DreamerConfig::tiny();
    prioritised.replay.fracs = ReplayFractions {
        uniform: 0.5,
        priority: 0.5,
        recency: 0.0,
    };
    learns_pick_one(prioritised, "prioritised", 0);
}

/// With the priority selector, every update writes its steps' world-model
/// losses back as their priorities: after one update the replayed steps
/// hold finite, positive priorities and the others keep the initial
/// infinity.
#[test]
fn an_update_writes_its_losses_back_as_priorities() {
    let _alone = one_at_a_time();
    let mut config = DreamerConfig::tiny();
    config.replay.fracs = ReplayFractions {
        uniform: 0.0,
        priority: 1.0,
        recency: 0.0,
    };
    let device = burn::tensor::Device::flex();
    let mut env = PickOne::new();
    let mut agent = agent_for(&env, &config, 2, &device);
    collect(&mut agent, &mut env, 20, true, &mut Noise::new(2));
    let held = agent.replay().len();
    let count = |agent: &DreamerAgent, finite: bool| {
        (0..held)
            .filter(|&slot| {
                let p = agent
                    .replay()
                    .priority(0, slot)
                    .expect("a priority per step");
                p.is_finite() == finite && (!finite || p > 0.0)
            })
            .count()
    };
    assert_eq!(count(&agent, false), held, "nothing trained yet");
    agent.train_step().unwrap();
    let rows = config.replay.batch * config.replay.length;
    let trained = count(&agent, true);
    assert!(
        trained > 0 && trained <= rows,
        "{trained} steps of {held} got their losses back (at most {rows} rows replayed)"
    );
    assert_eq!(
        trained + count(&agent, false),
        held,
        "the rest wait at infinity"
    );
}

/// A DreamerV3 for PickOne, its weights drawn from `seed`.
fn agent_for(
    env: &PickOne,
    config: &DreamerConfig,
    seed: u64,
    device: &burn::tensor::Device,
) -> DreamerAgent {
    DreamerAgent::new(
        config,
        env.observation_space(),
        env.action_space(),
        1,
        seed,
        device,
    )
    .unwrap()
}

fn learns_pick_one(config: DreamerConfig, label: &str, replicas: usize) {
    // The agent seeds burn's generator (seed 0 below): a reproducible start.
    let device = burn::tensor::Device::flex();
    let mut env = PickOne::new();
    let mut agent =
        agent_for(&env, &config, 0, &device).with_replicas(&vec![device.clone(); replicas]);
    let mut noise = Noise::new(0);
    let random_return = collect(&mut agent, &mut env, 20, true, &mut noise);
    // A snapshot of the untrained policy, refreshed after training below.
    let mut snapshot = agent.acting_policy().expect("DreamerV3 acts apart");

    let mut early = Vec::new();
    let mut late = Vec::new();
    for update in 0..250 {
        let metrics = agent.train_step().unwrap();
        let wm = metric(&metrics, "loss/reward") + metric(&metrics, "loss/decoder");
        if config.loss_scales.replay_critic > 0.0 {
            assert!(metric(&metrics, "loss/replay_critic").is_finite());
        }
        if update < 10 {
            early.push(wm);
        }
        if update >= 240 {
            late.push(wm);
        }
        if update % 25 == 24 {
            let score = collect(&mut agent, &mut env, 2, false, &mut noise);
            eprintln!(
                "{label} update {update}: return {score:.1}, reward+decoder loss {wm:.3}, entropy {:.3}, imagined return {:.2}, critic loss {:.3}",
                metric(&metrics, "actor/entropy"),
                metric(&metrics, "actor/return_mean"),
                metric(&metrics, "loss/critic")
            );
        }
    }
    let early = early.iter().sum::<f64>() / early.len() as f64;
    let late = late.iter().sum::<f64>() / late.len() as f64;
    assert!(
        late < 0.5 * early,
        "{label}: reward + decoder loss should fall by half: {early:.3} -> {late:.3}"
    );

    let learned_return = collect(&mut agent, &mut env, 5, false, &mut noise);
    assert!(
        learned_return > random_return + 2.0 && learned_return >= 6.5,
        "{label}: the actor should approach the optimum of 8: random {random_return:.2}, learned {learned_return:.2}"
    );
    // The snapshot taken before training, refreshed with the trained
    // weights, plays as well on another thread.
    snapshot.refresh(agent.acting_policy().expect("DreamerV3 acts apart"));
    let thread_return = play_on_thread(snapshot, 5);
    assert!(
        thread_return >= 6.5,
        "{label}: a refreshed policy snapshot on another thread should play as the agent: {thread_return:.2}"
    );
}

/// The 2025 design's replay context: after training, every replayed
/// sequence starts from the latent stored at the step before it, and that
/// start is worth having. PickOne's observation shows the time step, which
/// the prior can predict from the previous state but not from a fresh
/// one, so the first step's KL (posterior against prior) is lower from
/// the stored start than from the initial state.
#[test]
fn replay_context_starts_sequences_from_the_stored_latents() {
    let _alone = one_at_a_time();
    let mut config = DreamerConfig::tiny();
    config.replay.context = 1;
    let device = burn::tensor::Device::flex();
    let mut env = PickOne::new();
    let mut agent = agent_for(&env, &config, 1, &device);
    let mut noise = Noise::new(1);
    collect(&mut agent, &mut env, 20, true, &mut noise);
    let sample = |agent: &DreamerAgent, noise: &mut Noise| {
        let c = &config.replay;
        agent
            .replay()
            .sample_with_context(32, c.length, c.context, noise)
    };
    let fresh = sample(&agent, &mut noise);
    assert!(
        fresh.start.as_ref().unwrap().known.iter().all(|&k| !k),
        "no update has stored a latent yet"
    );
    for _ in 0..150 {
        agent.train_step().unwrap();
    }
    let batch = sample(&agent, &mut noise);
    let known = &batch.start.as_ref().unwrap().known;
    assert!(
        known.iter().all(|&k| k),
        "every step has been replayed: {known:?}"
    );

    // The first step of every sequence, observed from the stored start and
    // from the initial state.
    let model = agent.world_model().valid();
    let plain = device.clone();
    let b = batch.batch;
    let obs_kind = ObsKind::Vector { width: 3 };
    let data = DeviceBatch::new(batch, obs_kind, &plain);
    let first = |x: Tensor<2>| {
        let width = x.dims()[1];
        x.slice([0..b, 0..width])
    };
    let embed = first(model.encoder.encode(&data.obs));
    let actions = first(data.actions.clone());
    let (deter, stoch) = data.start.clone().unwrap();
    let mut warm = model.rssm.initial(b, &plain);
    (warm.deter, warm.stoch) = (deter, stoch);
    let not_first = Tensor::<1>::zeros([b], &plain);
    let cold = model.rssm.initial(b, &plain);
    let is_first = Tensor::<1>::ones([b], &plain);
    let kl = |observed: somnium::core::Observed<somnium::dreamer::rssm::RssmState>| -> f32 {
        let (post, prior) = (
            to_vec(observed.posterior.log_probs),
            to_vec(observed.prior.log_probs),
        );
        let total: f32 = post
            .iter()
            .zip(&prior)
            .map(|(&q, &p)| q.exp() * (q - p))
            .sum();
        total / b as f32
    };
    let mut noise = Noise::new(2);
    let from_stored =
        kl(model
            .rssm
            .observe(&warm, actions.clone(), embed.clone(), not_first, &mut noise));
    let from_initial = kl(model
        .rssm
        .observe(&cold, actions, embed, is_first, &mut noise));
    eprintln!(
        "first-step KL: from the stored latent {from_stored:.3}, from the initial state {from_initial:.3}"
    );
    assert!(
        from_stored < 0.75 * from_initial,
        "the stored start should let the prior predict the first step: KL {from_stored:.3} vs {from_initial:.3}"
    );
}
