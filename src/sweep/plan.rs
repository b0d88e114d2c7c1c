//! Expanding a sweep request into named runs, each with the overrides that
//! make it and its resolved config.
//!
//! Names sort and say what differs: `seed00`, `seed01`, ... without a
//! grid, `lr=0.001,td_steps=5-seed00` with one (a key appears by its last
//! part unless two keys share it). A run's name never depends on how many
//! seeds or which other runs the sweep has, so adding seeds adds runs and
//! leaves the others as they were.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Manifest;
use crate::config::{ExperimentConfig, SweepConfig, load, parse_override};
use crate::train::checkpoint::stable_hash;
use crate::train::experiment_name;
use crate::{Error, Result};

/// What `somnium sweep <experiment>` asks for.
#[derive(Debug, Clone, Default)]
pub struct SweepRequest {
    /// The experiment file.
    pub experiment: PathBuf,
    /// Runs per grid point (`--seeds`); the file's `sweep.seeds` if `None`.
    pub seeds: Option<u64>,
    /// `key=v1,v2,...` (`--grid`), added to the file's `[sweep.grid]`
    /// (replacing a key it has).
    pub grid: Vec<String>,
    /// `key=value` overrides for every run (`--set`).
    pub overrides: Vec<String>,
    /// The sweep directory; by default `<run.logdir>/<experiment>-sweep`,
    /// with a hash of the overrides and grid appended when there are any.
    pub dir: Option<PathBuf>,
}

/// One run of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedRun {
    /// Its directory's name inside the sweep directory.
    pub name: String,
    /// The overrides that make it, after the sweep's own: the grid point's
    /// values and `run.seed`.
    pub overrides: Vec<String>,
}

/// A request expanded: the directory, the manifest it calls for, and each
/// run's resolved config by name.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The sweep directory.
    pub dir: PathBuf,
    /// The manifest this request calls for.
    pub manifest: Manifest,
    /// Each run's resolved config, by run name.
    pub configs: BTreeMap<String, ExperimentConfig>,
}

/// Expand `request`: load the experiment with its overrides, combine its
/// `[sweep]` table with the request's seeds and grid, and resolve every
/// run's config (so a bad grid value is an error naming its key before
/// anything is written).
pub fn plan_runs(request: &SweepRequest) -> Result<Planned> {
    let base: ExperimentConfig = load(&request.experiment, &request.overrides)?;
    let SweepConfig { seeds, grid } = base.sweep.clone();
    let seeds = request.seeds.unwrap_or(seeds);
    if seeds == 0 {
        return Err(Error::config("--seeds", "seeds", "must be at least 1"));
    }
    let mut grid: BTreeMap<String, Vec<String>> = grid
        .into_iter()
        .map(|(key, values)| (key, values.iter().map(toml_text).collect()))
        .collect();
    for spec in &request.grid {
        let (key, values) = parse_grid(spec)?;
        grid.insert(key, values);
    }
    let grid: Vec<(String, Vec<String>)> = grid.into_iter().collect();
    let labels = short_keys(&grid);
    let shown: Vec<Vec<String>> = grid
        .iter()
        .map(|(_, values)| distinct_parts(values))
        .collect();
    let mut configs = BTreeMap::new();
    let mut runs = Vec::new();
    for point in grid_points(&grid) {
        let assignments: Vec<String> = point
            .iter()
            .map(|&(k, v)| format!("{}={}", grid[k].0, grid[k].1[v]))
            .collect();
        let label: Vec<String> = point
            .iter()
            .map(|&(k, v)| format!("{}={}", labels[k], file_safe(&shown[k][v])))
            .collect();
        for k in 0..seeds {
            let seed = base.run.seed + k;
            let mut overrides = assignments.clone();
            overrides.push(format!("run.seed={seed}"));
            let name = match label.is_empty() {
                true => format!("seed{seed:02}"),
                false => format!("{}-seed{seed:02}", label.join(",")),
            };
            let mut all = request.overrides.clone();
            all.extend(overrides.iter().cloned());
            let mut config: ExperimentConfig = load(&request.experiment, &all)?;
            config.sweep = SweepConfig::default();
            if configs.insert(name.clone(), config).is_some() {
                return Err(Error::config(
                    "--grid",
                    &name,
                    "two grid points get this run name (values that differ only in characters \
                     a file name cannot hold)",
                ));
            }
            runs.push(PlannedRun { name, overrides });
        }
    }
    let dir = match &request.dir {
        Some(dir) => dir.clone(),
        None => default_dir(request, &base, &grid),
    };
    let manifest = Manifest {
        experiment: request.experiment.clone(),
        overrides: request.overrides.clone(),
        grid,
        runs,
        slurm_jobs: Vec::new(),
    };
    Ok(Planned {
        dir,
        manifest,
        configs,
    })
}

fn default_dir(
    request: &SweepRequest,
    base: &ExperimentConfig,
    grid: &[(String, Vec<String>)],
) -> PathBuf {
    let mut name = format!("{}-sweep", experiment_name(&request.experiment));
    if !request.overrides.is_empty() || !grid.is_empty() {
        let what = serde_json::to_string(&(&request.overrides, grid)).expect("serialises");
        name = format!("{name}-{}", &stable_hash(&what)[..8]);
    }
    Path::new(&base.run.logdir).join(name)
}

/// A TOML value as `--set` would take it (strings quoted).
fn toml_text(value: &toml::Value) -> String {
    value.to_string()
}

/// `key=v1,v2` into the key and its values (each as `--set` reads it).
fn parse_grid(spec: &str) -> Result<(String, Vec<String>)> {
    let (key, _) = parse_override(spec).map_err(|_| {
        Error::config(
            "--grid",
            spec,
            "expected `section.key=value1,value2`, e.g. `--grid muzero.training.lr=1e-3,3e-3`",
        )
    })?;
    let raw = spec.split_once('=').map(|(_, v)| v).unwrap_or_default();
    let values: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| toml_text(&parse_override(&format!("v={v}")).expect("has =").1))
        .collect();
    if values.is_empty() {
        return Err(Error::config("--grid", &key, "lists no values"));
    }
    if key.starts_with("sweep.") || key == "run.seed" {
        return Err(Error::config(
            "--grid",
            &key,
            "a sweep cannot vary its own table or run.seed (use --seeds)",
        ));
    }
    Ok((key, values))
}

/// Every combination of one value per key, as (key index, value index)
/// pairs, the last key varying fastest; one empty point without a grid.
fn grid_points(grid: &[(String, Vec<String>)]) -> Vec<Vec<(usize, usize)>> {
    grid.iter()
        .enumerate()
        .fold(vec![Vec::new()], |points, (k, (_, values))| {
            points
                .iter()
                .flat_map(|point| {
                    (0..values.len()).map(move |v| {
                        let mut next = point.clone();
                        next.push((k, v));
                        next
                    })
                })
                .collect()
        })
}

/// Each key by its last part, or whole where two keys share that part.
fn short_keys(grid: &[(String, Vec<String>)]) -> Vec<String> {
    let last = |key: &str| key.rsplit('.').next().unwrap_or(key).to_string();
    grid.iter()
        .map(|(key, _)| {
            let shared = grid.iter().filter(|(k, _)| last(k) == last(key)).count() > 1;
            if shared { key.clone() } else { last(key) }
        })
        .collect()
}

/// The values of one key without what all of them share at their start
/// (up to a `/` or `:`) and end (from a `-`, `?` or `&`), so that
/// `MinAtar/Breakout-v1` and `MinAtar/Asterix-v1` read `Breakout` and
/// `Asterix`; a single value stays whole.
fn distinct_parts(values: &[String]) -> Vec<String> {
    if values.len() < 2 {
        return values.to_vec();
    }
    let first = values[0].as_str();
    let common_start = values.iter().fold(first.len(), |n, v| {
        n.min(
            first
                .bytes()
                .zip(v.bytes())
                .take_while(|(a, b)| a == b)
                .count(),
        )
    });
    let common_end = values.iter().fold(first.len(), |n, v| {
        n.min(
            first
                .bytes()
                .rev()
                .zip(v.bytes().rev())
                .take_while(|(a, b)| a == b)
                .count(),
        )
    });
    let start = first[..common_start].rfind(['/', ':']).map_or(0, |i| i + 1);
    let end_part = &first[first.len() - common_end..];
    let end = end_part.find(['-', '?', '&']).map_or(0, |i| common_end - i);
    values
        .iter()
        .map(|v| match start + end < v.len() {
            true => v[start..v.len() - end].to_string(),
            false => v.clone(),
        })
        .collect()
}

/// A value as part of a directory name: quotes dropped, and any character
/// outside letters, digits and `._+-` replaced by `_`.
fn file_safe(value: &str) -> String {
    value
        .trim_matches('"')
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() || "._+-".contains(c) {
            true => c,
            false => '_',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(spec: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        spec.iter()
            .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect()
    }

    #[test]
    fn grid_points_are_every_combination_last_key_fastest() {
        let g = grid(&[("a.x", &["1", "2"]), ("b.y", &["3", "4", "5"])]);
        let points = grid_points(&g);
        assert_eq!(points.len(), 6);
        assert_eq!(points[0], vec![(0, 0), (1, 0)]);
        assert_eq!(points[1], vec![(0, 0), (1, 1)]);
        assert_eq!(points[5], vec![(0, 1), (1, 2)]);
        assert_eq!(grid_points(&[]), vec![Vec::<(usize, usize)>::new()]);
    }

    #[test]
    fn keys_are_shortened_unless_their_last_parts_clash() {
        let g = grid(&[("a.lr", &["1"]), ("b.lr", &["1"]), ("c.depth", &["1"])]);
        assert_eq!(short_keys(&g), ["a.lr", "b.lr", "depth"]);
    }

    #[test]
    fn names_show_what_differs_between_values() {
        let ids = ["\"MinAtar/Breakout-v1\"", "\"MinAtar/Asterix-v1\""].map(String::from);
        assert_eq!(distinct_parts(&ids), ["Breakout", "Asterix"]);
        let atari = [
            "\"gym:ALE/Alien-v5?atari&repeat_action_probability=0.0\"",
            "\"gym:ALE/Pong-v5?atari&repeat_action_probability=0.0\"",
        ]
        .map(String::from);
        assert_eq!(distinct_parts(&atari), ["Alien", "Pong"]);
        // Numbers share no separator-bounded part: whole.
        let lrs = ["0.001", "0.003"].map(String::from);
        assert_eq!(distinct_parts(&lrs), lrs);
        assert_eq!(distinct_parts(&lrs[..1]), ["0.001"]);
    }

    #[test]
    fn grid_specs_read_values_as_set_does() {
        let (key, values) = parse_grid("muzero.training.lr=1e-3, 3e-3").unwrap();
        assert_eq!(key, "muzero.training.lr");
        assert_eq!(values, ["0.001", "0.003"]);
        let (_, words) = parse_grid("muzero.search.kind=puct,gumbel").unwrap();
        assert_eq!(words, ["\"puct\"", "\"gumbel\""]);
        assert_eq!(file_safe(&words[1]), "gumbel");
        for bad in ["no-equals", "a.b=", "run.seed=1,2", "sweep.seeds=2"] {
            assert!(parse_grid(bad).is_err(), "{bad}");
        }
    }
}
