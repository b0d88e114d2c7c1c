//! Tests of writing, opening, verifying and choosing checkpoints.

use super::*;
use crate::nn::mlp::Mlp;
use crate::nn::norm::NormKind;
use crate::nn::tensor_util::{tensor_from_vec, to_vec};
use burn::tensor::Device;

fn manifest(steps: u64) -> Manifest {
    Manifest {
        format_version: FORMAT_VERSION,
        config_hash: "abc".into(),
        counters: Counters {
            env_steps: steps,
            updates: 3,
            episodes: 1,
        },
        agent: "dreamer".into(),
        precision: Precision::F32,
        config: Some(serde_json::json!({"dreamer": {"lr": 1}})),
        files: None,
    }
}

#[test]
fn weights_and_optimizer_round_trip() {
    use burn::optim::{AdamConfig, GradientsParams};
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex().autodiff();
    let mlp = Mlp::new(2, 4, 1, NormKind::Layer, &device);
    let mut optim = AdamConfig::new().init();
    let x = tensor_from_vec(vec![1.0, 2.0], [1, 2], &device);
    let grads = GradientsParams::from_grads(mlp.forward(x.clone()).sum().backward(), &mlp);
    let mlp = optim.step(1e-2, mlp, grads);
    let ckpt = Checkpoint::write(dir.path(), manifest(100), 2, |tmp| {
        save_module(&mlp, &tmp.join("model.bpk"))?;
        save_optimizer(&optim, &tmp.join("optim.bpk"))
    })
    .unwrap();
    let fresh = Mlp::new(2, 4, 1, NormKind::Layer, &device);
    let loaded = load_module(fresh, &ckpt.file("model.bpk")).unwrap();
    assert_eq!(
        to_vec(loaded.forward(x.clone())),
        to_vec(mlp.forward(x.clone()))
    );
    // The restored optimiser continues exactly as the original would.
    let mut restored = load_optimizer(AdamConfig::new().init(), &ckpt.file("optim.bpk")).unwrap();
    let g1 = GradientsParams::from_grads(mlp.forward(x.clone()).sum().backward(), &mlp);
    let g2 = GradientsParams::from_grads(loaded.forward(x.clone()).sum().backward(), &loaded);
    let a = optim.step(1e-2, mlp, g1);
    let b = restored.step(1e-2, loaded, g2);
    assert_eq!(to_vec(a.forward(x.clone())), to_vec(b.forward(x)));
}

#[test]
fn latest_skips_incomplete_and_prunes_old() {
    let dir = tempfile::tempdir().unwrap();
    for steps in [10, 20, 30] {
        Checkpoint::write(dir.path(), manifest(steps), 2, |_| Ok(())).unwrap();
    }
    // A kill mid-write leaves a temporary directory without a manifest.
    std::fs::create_dir_all(dir.path().join(".tmp-000000000040")).unwrap();
    let latest = Checkpoint::latest(dir.path()).unwrap().unwrap();
    assert_eq!(latest.manifest.counters.env_steps, 30);
    assert!(
        !dir.path().join("000000000010").exists(),
        "only the newest two are kept"
    );
    assert!(dir.path().join("000000000020").exists());
}

#[test]
fn mismatched_config_and_missing_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = Checkpoint::write(dir.path(), manifest(5), 1, |_| Ok(())).unwrap();
    let now = serde_json::json!({"dreamer": {"lr": 2}});
    let err = ckpt
        .check_config("other", &now, "dreamer")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("different config") && err.contains("dreamer.lr: 1 -> 2"),
        "{err}"
    );
    let err = ckpt
        .check_config("abc", &now, "muzero")
        .unwrap_err()
        .to_string();
    assert!(err.contains("agent `dreamer`"), "{err}");
    ckpt.check_precision(Precision::F32).unwrap();
    let err = ckpt
        .check_precision(Precision::F16)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("run.precision = \"f32\", resumed with \"f16\"")
            && err.contains("--set run.precision=f32"),
        "{err}"
    );
    let device = Device::flex();
    let err = load_module(
        Mlp::new(2, 4, 1, NormKind::Layer, &device),
        &ckpt.file("model.bpk"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("missing"), "{err}");
    let err = Checkpoint::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("manifest"), "{err}");
}

#[test]
fn manifests_without_a_precision_are_f32_runs() {
    let mut json = serde_json::to_value(manifest(5)).unwrap();
    json.as_object_mut().unwrap().remove("precision");
    let old: Manifest = serde_json::from_value(json).unwrap();
    assert_eq!(old.precision, Precision::F32);
}

/// Write checkpoints at `steps`, each holding one file `w.bin`.
fn written(root: &Path, steps: &[u64]) {
    for &s in steps {
        Checkpoint::write(root, manifest(s), 10, |tmp| {
            std::fs::write(tmp.join("w.bin"), s.to_le_bytes()).map_err(|e| Error::io("w", tmp, e))
        })
        .unwrap();
    }
}

#[test]
fn a_damaged_file_fails_verification_and_readers_fall_back() {
    let dir = tempfile::tempdir().unwrap();
    written(dir.path(), &[10, 20]);
    let newest = Checkpoint::latest(dir.path()).unwrap().unwrap();
    newest.verify().unwrap();
    assert_eq!(newest.manifest.files.as_ref().unwrap().len(), 1);
    // One byte changed: same size, other checksum.
    std::fs::write(newest.file("w.bin"), 21u64.to_le_bytes()).unwrap();
    let err = newest.verify().unwrap_err().to_string();
    assert!(
        err.contains("`w.bin` is corrupt") && err.contains("checksum"),
        "{err}"
    );
    let chosen = Checkpoint::chosen(dir.path(), None, "resume from").unwrap();
    assert_eq!(chosen.manifest.counters.env_steps, 10, "fell back");
    // Asked for by its steps, the damaged one is an error, not a fallback.
    let err = Checkpoint::chosen(dir.path(), Some(20), "evaluate")
        .unwrap_err()
        .to_string();
    assert!(err.contains("corrupt"), "{err}");
    // A failing load falls back too; a failing check stops at once.
    let (used, ()) = Checkpoint::load_newest_usable(
        dir.path(),
        None,
        "resume from",
        |_| Ok(()),
        |c| match c.manifest.counters.env_steps {
            10 => Ok(()),
            _ => Err(Error::checkpoint(&c.dir, "unloadable")),
        },
    )
    .unwrap();
    assert_eq!(used.manifest.counters.env_steps, 10);
    let err = Checkpoint::load_newest_usable(
        dir.path(),
        None,
        "resume from",
        |c| Err(Error::checkpoint(&c.dir, "wrong config")),
        |_| Ok(()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("wrong config") && err.contains("000000000020"),
        "{err}"
    );
    // With every one damaged, the error lists each reason.
    std::fs::remove_file(chosen.file("w.bin")).unwrap();
    let err = Checkpoint::chosen(dir.path(), None, "evaluate")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no usable checkpoint to evaluate")
            && err.contains("`w.bin` is missing")
            && err.contains("checksum"),
        "{err}"
    );
}

#[test]
fn a_failed_write_removes_its_temporary_directory_and_keeps_the_others() {
    let dir = tempfile::tempdir().unwrap();
    written(dir.path(), &[10]);
    let err = Checkpoint::write(dir.path(), manifest(20), 10, |tmp| {
        std::fs::write(tmp.join("half.bin"), [0u8; 8]).unwrap();
        Err(Error::io(
            "writing",
            tmp.join("rest.bin"),
            std::io::Error::from(std::io::ErrorKind::StorageFull),
        ))
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("rest.bin"), "{err}");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["000000000010".to_string()]);
    Checkpoint::latest(dir.path())
        .unwrap()
        .unwrap()
        .verify()
        .unwrap();
}

#[test]
fn resuming_from_an_older_checkpoint_sets_the_newer_aside() {
    let dir = tempfile::tempdir().unwrap();
    written(dir.path(), &[10, 20, 30]);
    let older = Checkpoint::at_env_steps(dir.path(), 10).unwrap();
    let moved = older.supersede_newer().unwrap();
    assert_eq!(moved.len(), 2);
    assert!(
        dir.path()
            .join("000000000030.superseded")
            .join("w.bin")
            .is_file()
    );
    assert_eq!(
        Checkpoint::latest(dir.path())
            .unwrap()
            .unwrap()
            .manifest
            .counters
            .env_steps,
        10
    );
    // A new checkpoint and pruning see only the resumed line.
    Checkpoint::write(dir.path(), manifest(15), 1, |_| Ok(())).unwrap();
    assert!(dir.path().join("000000000030.superseded").is_dir());
    assert!(!dir.path().join("000000000010").exists());
}

#[test]
fn checkpoints_without_checksums_still_open() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("000000000005");
    std::fs::create_dir_all(&old).unwrap();
    let mut json = serde_json::to_value(manifest(5)).unwrap();
    json["format_version"] = 2.into();
    let object = json.as_object_mut().unwrap();
    object.remove("files");
    object.remove("config");
    std::fs::write(old.join(MANIFEST), json.to_string()).unwrap();
    let ckpt = Checkpoint::chosen(dir.path(), None, "resume from").unwrap();
    assert_eq!(ckpt.manifest.files, None);
    // Version 3 without its file list is damaged, not old.
    json["format_version"] = 3.into();
    std::fs::write(old.join(MANIFEST), json.to_string()).unwrap();
    let err = Checkpoint::open(&old).unwrap_err().to_string();
    assert!(err.contains("lists no files"), "{err}");
}
