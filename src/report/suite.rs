//! Reference scores that normalise a benchmark's tasks: (score - random) /
//! (reference - random), e.g. Atari's human-normalised score.

use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result};

/// The Atari 100k games' random and human scores (source in the file).
const ATARI_100K: &str = include_str!("atari100k_scores.toml");

/// A benchmark's reference scores by environment.
#[derive(Debug, Clone, Deserialize)]
pub struct Suite {
    /// By the game's key: its environment id and scores.
    games: std::collections::BTreeMap<String, Game>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Game {
    /// Display name (unused here; for readers of the file).
    #[allow(dead_code)]
    name: String,
    /// The environment id, matched inside a run's `env.id`
    /// (`ALE/Pong-v5` matches `gym:ALE/Pong-v5?atari`).
    env: String,
    /// A uniformly random policy's score.
    random: f64,
    /// The reference score that normalises to 1 (human for Atari).
    human: f64,
}

impl Suite {
    /// `atari100k`, or a TOML file with `[games.<key>]` tables of `name`,
    /// `env`, `random` and `human`.
    pub fn load(spec: &str) -> Result<Suite> {
        let (origin, text) = match spec {
            "atari100k" => ("atari100k".to_string(), ATARI_100K.to_string()),
            path => {
                let text = std::fs::read_to_string(Path::new(path)).map_err(|e| {
                    Error::io(
                        "reading the suite's reference scores (or name `atari100k`)",
                        path,
                        e,
                    )
                })?;
                (path.to_string(), text)
            }
        };
        toml::from_str(&text).map_err(|e| Error::config(origin, "games", e.to_string()))
    }

    /// `score` of the environment `env_id` normalised, or `None` when the
    /// suite has no scores for it.
    pub fn normalise(&self, env_id: &str, score: f64) -> Option<f64> {
        let game = self
            .games
            .values()
            .find(|g| env_id.contains(g.env.as_str()))?;
        Some((score - game.random) / (game.human - game.random))
    }

    /// How many tasks it has.
    pub fn len(&self) -> usize {
        self.games.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.games.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atari_scores_normalise_by_random_and_human() {
        let suite = Suite::load("atari100k").unwrap();
        assert_eq!(suite.len(), 26);
        // Pong: random -20.7, human 14.6.
        let pong = suite.normalise("gym:ALE/Pong-v5?atari", 14.6).unwrap();
        assert!((pong - 1.0).abs() < 1e-12);
        let random = suite.normalise("gym:ALE/Pong-v5", -20.7).unwrap();
        assert!(random.abs() < 1e-12);
        assert_eq!(suite.normalise("CartPole-v1", 500.0), None);
    }
}
