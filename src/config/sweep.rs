//! The `[sweep]` table of an experiment file: the seeds and the grid of
//! values `somnium sweep` expands the experiment into, so that a paper's
//! whole protocol is one file. A single run (`somnium train`) ignores it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Validator;

/// Seeds and grid of a sweep (`somnium sweep`; a single run ignores
/// them). The grid is a table of lists, by dotted key: `[sweep.grid]`
/// `"muzero.training.lr" = [1e-3, 3e-4]`; every combination of values is
/// a grid point (`--grid key=v1,v2` adds or replaces a key). The suites in
/// `experiments/suites/` are grids over `env.id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SweepConfig {
    /// Runs per grid point, with `run.seed` = the experiment's seed + 0, 1, ... (`--seeds` overrides).
    pub seeds: u64,
    /// Values to try, by dotted key: `"muzero.optimizer.lr" = [1e-3, 3e-4]`; every combination is a grid point (`--grid key=v1,v2` adds or replaces a key).
    pub grid: BTreeMap<String, Vec<toml::Value>>,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig {
            seeds: 1,
            grid: BTreeMap::new(),
        }
    }
}

impl SweepConfig {
    pub(super) fn validate(&self, v: &mut Validator) {
        v.section("sweep", |v| {
            v.positive("seeds", self.seeds);
            for (key, values) in &self.grid {
                v.check(
                    !values.is_empty(),
                    &format!("grid.{key}"),
                    "lists no values; give at least one",
                );
                v.check(
                    !key.starts_with("sweep.") && key != "run.seed",
                    &format!("grid.{key}"),
                    "a sweep cannot vary its own table or run.seed (use seeds)",
                );
            }
        });
    }
}
