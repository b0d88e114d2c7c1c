//! Every experiment file in `experiments/` loads and validates, presets
//! included, and every sweep in one (the suites) expands into runs whose
//! configs load; a misspelt key in a real file is reported with file and
//! key.

use std::path::{Path, PathBuf};

use somnium::config::{ExperimentConfig, load};

fn experiment_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "presets") {
                experiment_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

#[test]
fn every_experiment_loads() {
    let mut files = Vec::new();
    experiment_files(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("experiments")
            .as_path(),
        &mut files,
    );
    assert!(!files.is_empty());
    for file in files {
        let config: ExperimentConfig = load(&file, &[]).unwrap_or_else(|e| panic!("{e}"));
        match somnium::envs::make(&config.env.id) {
            Ok(_) => {}
            // A Gymnasium environment needs the Python packages CI installs;
            // without them (and without SOMNIUM_REQUIRE_PYTHON=1) say so and go on.
            Err(e)
                if config.env.id.starts_with("gym:")
                    && std::env::var("SOMNIUM_REQUIRE_PYTHON").as_deref() != Ok("1") =>
            {
                eprintln!("skipping {}'s environment: {e}", file.display());
            }
            Err(e) => panic!("{}: env {}: {e}", file.display(), config.env.id),
        }
    }
}

#[test]
fn every_sweep_expands_into_runs_that_load() {
    let mut files = Vec::new();
    experiment_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments"),
        &mut files,
    );
    let mut suites = 0;
    for file in files {
        let config: ExperimentConfig = load(&file, &[]).unwrap();
        let request = somnium::sweep::SweepRequest {
            experiment: file.clone(),
            ..Default::default()
        };
        let planned = somnium::sweep::plan_runs(&request).unwrap_or_else(|e| panic!("{e}"));
        let points: usize = config.sweep.grid.values().map(Vec::len).product();
        assert_eq!(
            planned.manifest.runs.len() as u64,
            points as u64 * config.sweep.seeds
        );
        let ids: std::collections::BTreeSet<&str> = planned
            .configs
            .values()
            .map(|c| c.env.id.as_str())
            .collect();
        if let Some(envs) = config.sweep.grid.get("env.id") {
            suites += 1;
            assert_eq!(ids.len(), envs.len(), "{}: {ids:?}", file.display());
            for id in ids.iter().filter(|id| !id.starts_with("gym:")) {
                somnium::envs::make(id).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            }
        }
    }
    assert!(suites >= 4, "the suites in experiments/suites/ expand");
}

#[test]
fn every_preset_layers_over_the_defaults() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/presets/dreamer");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let preset = entry.unwrap().path();
        let tmp = tempfile::tempdir().unwrap();
        let exp = tmp.path().join("exp.toml");
        std::fs::write(
            &exp,
            format!("include = [{:?}]\n", preset.display().to_string()),
        )
        .unwrap();
        let config: ExperimentConfig =
            load(&exp, &[]).unwrap_or_else(|e| panic!("{}: {e}", preset.display()));
        // The defaults are size S, so only the other presets change anything.
        if preset.file_stem().is_some_and(|s| s != "s") {
            assert_ne!(
                config.dreamer,
                ExperimentConfig::default().dreamer,
                "{} changes nothing",
                preset.display()
            );
        }
    }
}

#[test]
fn misspelt_key_in_a_file_names_file_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("exp.toml");
    std::fs::write(&exp, "[dreamer.rssm]\nclases = 16\n").unwrap();
    let err = load::<ExperimentConfig>(&exp, &[]).unwrap_err().to_string();
    assert!(
        err.contains("exp.toml")
            && err.contains("`dreamer.rssm.clases`")
            && err.contains("unknown field"),
        "{err}"
    );
}

/// The rows of the "DreamerV3 model sizes" table in docs/architecture.md:
/// preset name and its numbers, in column order.
fn size_table() -> Vec<(String, Vec<usize>)> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
            .unwrap();
    let section = doc
        .split("## DreamerV3 model sizes")
        .nth(1)
        .expect("the model sizes section");
    section
        .lines()
        .filter(|l| l.starts_with("| size"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let numbers = cells[1..].iter().map(|c| c.parse().unwrap()).collect();
            (cells[0].to_string(), numbers)
        })
        .collect()
}

#[test]
fn the_2025_presets_match_the_reference_table() {
    use somnium::dreamer::{
        CnnKind, ContinuationEstimate, CoreKind, HeadRole, OptimizerKind, TwohotKind,
    };
    let rows = size_table();
    assert_eq!(rows.len(), 7, "size1m to size400m");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/presets/dreamer");
    for (name, numbers) in rows {
        let tmp = tempfile::tempdir().unwrap();
        let exp = tmp.path().join("exp.toml");
        let preset = dir.join(format!("{name}.toml"));
        std::fs::write(
            &exp,
            format!("include = [{:?}]\n", preset.display().to_string()),
        )
        .unwrap();
        let d = load::<ExperimentConfig>(&exp, &[])
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .dreamer;
        let got = vec![
            d.rssm.deter,
            d.rssm.hidden,
            d.rssm.classes,
            d.heads.units,
            d.encoder.cnn_depth,
        ];
        assert_eq!(
            got, numbers,
            "{name}: deter, hidden, classes, units, CNN depth"
        );
        assert_eq!(
            d.encoder.mlp_units, d.heads.units,
            "{name}: one width for all MLPs"
        );
        // The 2025 base config, the same for every size.
        assert_eq!(
            (d.rssm.stoch, d.rssm.blocks, d.rssm.prior_layers),
            (32, 8, 2),
            "{name}"
        );
        assert_eq!(d.rssm.core, CoreKind::BlockGru, "{name}");
        assert_eq!(
            (
                d.encoder.cnn,
                d.encoder.cnn_mults.as_slice(),
                d.encoder.cnn_kernel,
                d.encoder.cnn_decoder_blocks
            ),
            (CnnKind::Pooled, [2, 3, 4, 4].as_slice(), 5, 8),
            "{name}: the 2025 CNN"
        );
        assert!(d.replay.online, "{name}: the online replay queue");
        assert!(d.dense_bias, "{name}: biases before RMSNorm");
        assert_eq!(
            d.behaviour.actor_gradient,
            somnium::dreamer::ActorGradient::Reinforce,
            "{name}: REINFORCE for every action space"
        );
        assert_eq!(
            d.encoder.mlp_layers, 3,
            "{name}: encoder and decoder layers"
        );
        let layers = [
            HeadRole::Actor,
            HeadRole::Critic,
            HeadRole::Reward,
            HeadRole::Continue,
        ]
        .map(|role| d.heads.layers_of(role));
        assert_eq!(
            layers,
            [3, 3, 1, 1],
            "{name}: actor, critic, reward, continue"
        );
        assert_eq!(d.optimizer.kind, OptimizerKind::Laprop, "{name}");
        assert_eq!(
            (d.loss_scales.dynamics, d.loss_scales.replay_critic),
            (1.0, 0.3),
            "{name}"
        );
        assert_eq!(d.replay.context, 1, "{name}");
        assert_eq!(
            d.heads.actor_outscale, 0.01,
            "{name}: the policy's outscale"
        );
        assert_eq!(d.heads.twohot, TwohotKind::Symexp, "{name}");
        assert_eq!(
            d.behaviour.continuation,
            ContinuationEstimate::Probability,
            "{name}"
        );
        assert_eq!(format!("{:?}", d.norm), "Rms", "{name}");
    }
}
