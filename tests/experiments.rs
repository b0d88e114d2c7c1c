//! Every experiment file in `experiments/` loads and validates, presets
//! included; a misspelt key in a real file is reported with file and key.

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
