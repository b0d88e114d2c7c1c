//! Experiment configs: plain serde structs loaded from TOML.
//!
//! A config is built in layers, each overriding the one before:
//!
//! 1. the defaults (`impl Default`, the papers' values);
//! 2. files named in the experiment's `include = [...]` list (model-size
//!    presets, or another experiment, as the suites include theirs),
//!    resolved relative to the including file, each over its own includes;
//! 3. the experiment file itself;
//! 4. `--set section.key=value` overrides from the command line.
//!
//! Every struct is `#[serde(default, deny_unknown_fields)]`, so a misspelt
//! key is an error rather than a silently ignored value, and every error
//! names the file (or `--set`), the dotted key and what was expected. The
//! resolved config is written into each run directory by [`save_resolved`].

mod experiment;
mod loader;
mod sweep;
mod validate;

pub use experiment::{AgentKind, EnvConfig, ExperimentConfig, RunConfig};
pub use loader::{load, load_str, parse_override, save_resolved, validate};
pub use sweep::SweepConfig;
pub use validate::{Validate, Validator};
