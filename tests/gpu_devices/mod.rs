//! The devices the GPU tests compare against flex: `SOMNIUM_PARITY_DEVICES`,
//! a comma list such as `wgpu:cpu` (CI, Mesa's lavapipe) or `wgpu,cuda:0`
//! (a GPU machine), where a listed device that cannot be opened fails the
//! test; unset, every GPU backend compiled into the build that opens, and
//! none (the test skips, saying how to run it) in a build without one.

use burn::tensor::Device;

/// The devices to compare against flex, or `None` (after saying why) to skip.
pub fn devices_under_test() -> Option<Vec<(String, Device)>> {
    if let Ok(list) = std::env::var("SOMNIUM_PARITY_DEVICES") {
        let devices = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|spec| {
                let device = somnium::device::parse_device(spec)
                    .unwrap_or_else(|e| panic!("SOMNIUM_PARITY_DEVICES names {spec}: {e}"));
                (spec.to_string(), device)
            })
            .collect();
        return Some(devices);
    }
    let compiled: Vec<&str> = [
        cfg!(feature = "wgpu").then_some("wgpu"),
        cfg!(feature = "cuda").then_some("cuda:0"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if compiled.is_empty() {
        eprintln!(
            "skipping backend parity: this build has no GPU backend; run \
             `cargo test --features wgpu --test backend_parity` (with a GPU or Mesa's lavapipe)"
        );
        return None;
    }
    let devices: Vec<_> = compiled
        .into_iter()
        .filter_map(|spec| match somnium::device::parse_device(spec) {
            Ok(device) => Some((spec.to_string(), device)),
            Err(e) => {
                eprintln!("skipping {spec}: {e}");
                None
            }
        })
        .collect();
    (!devices.is_empty()).then_some(devices)
}
