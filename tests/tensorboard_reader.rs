//! TensorBoard's own reader (the Python `tensorboard` package) reads the
//! event files our sink writes: scalars, raw histograms and images.
//!
//! Skipped with a message when Python's `tensorboard` is not installed,
//! unless `SOMNIUM_REQUIRE_PYTHON=1` (set by CI, which installs it).

use std::process::Command;

use somnium::envs::Frame;
use somnium::logging::{MetricsSink, TensorboardSink};

const READER: &str = r#"
import json, sys
from tensorboard.backend.event_processing import event_accumulator as ea
acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.IMAGES: 0})
acc.Reload()
tags = acc.Tags()
out = {
    "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
    "histograms": {t: [[e.step, e.histogram_value.num, e.histogram_value.min, e.histogram_value.max] for e in acc.Histograms(t)] for t in tags["histograms"]},
    "images": {t: [[e.step, len(e.encoded_image_string)] for e in acc.Images(t)] for t in tags["images"]},
}
try:
    import io
    from PIL import Image
    data = acc.Images("frame")[0].encoded_image_string
    out["image_size"] = list(Image.open(io.BytesIO(data)).size)
except (ImportError, KeyError):
    pass
print(json.dumps(out))
"#;

/// Whether TensorBoard's reader is there; panics if CI requires it and it
/// is not, and says why a test skips otherwise.
fn tensorboard_or_skip() -> bool {
    if python_has_tensorboard() {
        return true;
    }
    assert!(
        std::env::var("SOMNIUM_REQUIRE_PYTHON").is_err(),
        "SOMNIUM_REQUIRE_PYTHON is set but `python3 -c 'import tensorboard'` fails"
    );
    eprintln!("skipped: Python package `tensorboard` is not installed (pip install tensorboard)");
    false
}

/// The reader's JSON for the event files in `dir`.
fn read_events(dir: &std::path::Path) -> serde_json::Value {
    let output = Command::new("python3")
        .args(["-c", READER])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "reader failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A resumed run's event file marks its restart: TensorBoard drops what
/// the first file logged after the checkpoint resumed from, so each step
/// shows once, with the resumed run's value.
#[test]
fn a_resumed_run_replaces_the_abandoned_steps() {
    if !tensorboard_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut first = TensorboardSink::new(dir.path()).unwrap();
    for step in [10, 20, 30] {
        first
            .scalars(step, &[("loss/x".into(), step as f64)])
            .unwrap();
    }
    first.flush().unwrap();
    // Resumed from a checkpoint at 20: the restart is marked at 21.
    let mut resumed = TensorboardSink::new(dir.path()).unwrap();
    assert_ne!(resumed.path(), first.path());
    resumed.restart_at(21).unwrap();
    resumed.scalars(30, &[("loss/x".into(), 3.5)]).unwrap();
    resumed.flush().unwrap();
    let read = read_events(dir.path());
    assert_eq!(
        read["scalars"]["loss/x"],
        serde_json::json!([[10, 10.0], [20, 20.0], [30, 3.5]])
    );
}

fn python_has_tensorboard() -> bool {
    Command::new("python3")
        .args(["-c", "import tensorboard"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn tensorboard_reads_our_event_files() {
    if !tensorboard_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut sink = TensorboardSink::new(dir.path()).unwrap();
    sink.scalars(
        10,
        &[("loss/reward".into(), 0.5), ("episode/return".into(), 21.0)],
    )
    .unwrap();
    sink.scalars(20, &[("loss/reward".into(), 0.25)]).unwrap();
    sink.histogram(20, "actor/logits", &[0.0, 1.0, 2.0, 3.0])
        .unwrap();
    // A non-square frame: 6 high, 10 wide.
    let frame = Frame {
        height: 6,
        width: 10,
        rgb: (0..6 * 10 * 3).map(|i| (i % 251) as u8).collect(),
    };
    sink.image(20, "frame", &frame).unwrap();
    sink.flush().unwrap();
    drop(sink);

    let read = read_events(dir.path());
    assert_eq!(
        read["scalars"]["loss/reward"],
        serde_json::json!([[10, 0.5], [20, 0.25]])
    );
    assert_eq!(
        read["scalars"]["episode/return"],
        serde_json::json!([[10, 21.0]])
    );
    assert_eq!(
        read["histograms"]["actor/logits"],
        serde_json::json!([[20, 4.0, 0.0, 3.0]])
    );
    assert_eq!(read["images"]["frame"][0][0], 20);
    if let Some(size) = read.get("image_size") {
        assert_eq!(
            size,
            &serde_json::json!([10, 6]),
            "PIL reports (width, height)"
        );
    }
}
