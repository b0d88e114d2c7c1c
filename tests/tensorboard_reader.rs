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
except ImportError:
    pass
print(json.dumps(out))
"#;

fn python_has_tensorboard() -> bool {
    Command::new("python3")
        .args(["-c", "import tensorboard"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn tensorboard_reads_our_event_files() {
    if !python_has_tensorboard() {
        assert!(
            std::env::var("SOMNIUM_REQUIRE_PYTHON").is_err(),
            "SOMNIUM_REQUIRE_PYTHON is set but `python3 -c 'import tensorboard'` fails"
        );
        eprintln!(
            "skipped: Python package `tensorboard` is not installed (pip install tensorboard)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut sink = TensorboardSink::new(dir.path());
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

    let output = Command::new("python3")
        .args(["-c", READER])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "reader failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
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
