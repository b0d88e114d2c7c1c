//! Running experiments: the run loop, run directories, checkpoints and the
//! agent interface it drives.

mod actors;
mod agent;
pub mod checkpoint;
mod collect;
mod dream;
mod eval;
pub mod latent_acting;
pub mod lock;
pub mod provenance;
mod resume;
mod run;
pub mod run_dir;
mod status;
mod wrap;

pub use agent::{ActingPolicy, ActionCodec, Agent, record_step, updates_owed};
pub use checkpoint::{Checkpoint, Counters, Manifest};
pub use collect::{Collector, Episode, Recorded, make_env, record_random_play};
pub use dream::{EndingPrediction, EndingsReport, dream, dream_endings};
pub use eval::{EvalRequest, EvalSummary, evaluate_run};
pub use lock::RunLock;
pub use resume::{ResumeRequest, resume};
pub use run::{config_hash, config_shaping, experiment_name, train_config, train_experiment};
pub use run_dir::RunDir;
pub use status::{RunStatus, run_status, train_or_resume};
