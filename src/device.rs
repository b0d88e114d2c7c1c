//! Choosing the compute device at run time.
//!
//! burn 0.22 picks the backend from the [`Device`]. Experiments name one
//! with a string: `flex` (pure-Rust CPU, always available by default),
//! `wgpu` / `wgpu:cpu` / `wgpu:N` (GPU N through WGPU, or the CPU adapter for
//! Mesa's software Vulkan), `cuda` / `cuda:N`. We never call
//! `Device::default()`: it prefers GPU backends and can pick a software
//! driver that crashes.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

use crate::{Error, Result};

/// A parsed device choice. Parsing succeeds for every known backend; whether
/// it was compiled in is checked by [`DeviceSpec::device`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSpec {
    /// burn's pure-Rust CPU backend (cargo feature `flex`).
    Flex,
    /// WGPU (cargo feature `wgpu`) on the given adapter.
    Wgpu(WgpuAdapter),
    /// CUDA device N (cargo feature `cuda`).
    Cuda(usize),
}

/// Which WGPU adapter to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WgpuAdapter {
    /// The best adapter WGPU finds (prefers discrete GPUs).
    Default,
    /// Discrete GPU with this index.
    Discrete(usize),
    /// The CPU adapter (Mesa lavapipe), for GPU-less machines and CI.
    Cpu,
}

impl FromStr for DeviceSpec {
    type Err = Error;

    fn from_str(spec: &str) -> Result<Self> {
        let bad = |problem: &str| Error::Device {
            spec: spec.to_string(),
            problem: problem.to_string(),
        };
        let (name, index) = match spec.split_once(':') {
            Some((name, index)) => (name, Some(index)),
            None => (spec, None),
        };
        let parse_index = |index: &str| {
            index
                .parse::<usize>()
                .map_err(|_| bad("expected a device index after `:`, e.g. `cuda:0`"))
        };
        match (name, index) {
            ("flex" | "cpu", None) => Ok(DeviceSpec::Flex),
            ("wgpu", None) => Ok(DeviceSpec::Wgpu(WgpuAdapter::Default)),
            ("wgpu", Some("cpu")) => Ok(DeviceSpec::Wgpu(WgpuAdapter::Cpu)),
            ("wgpu", Some(i)) => Ok(DeviceSpec::Wgpu(WgpuAdapter::Discrete(parse_index(i)?))),
            ("cuda", None) => Ok(DeviceSpec::Cuda(0)),
            ("cuda", Some(i)) => Ok(DeviceSpec::Cuda(parse_index(i)?)),
            _ => Err(bad(
                "unknown device; expected `flex`, `wgpu`, `wgpu:cpu`, `wgpu:N`, `cuda` or `cuda:N`",
            )),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Flex => write!(f, "flex"),
            DeviceSpec::Wgpu(WgpuAdapter::Default) => write!(f, "wgpu"),
            DeviceSpec::Wgpu(WgpuAdapter::Cpu) => write!(f, "wgpu:cpu"),
            DeviceSpec::Wgpu(WgpuAdapter::Discrete(i)) => write!(f, "wgpu:{i}"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl DeviceSpec {
    /// The burn device, or an error naming the cargo feature to enable.
    pub fn device(&self) -> Result<Device> {
        let missing = |feature: &str| Error::Device {
            spec: self.to_string(),
            problem: format!(
                "this build of somnium does not include the `{feature}` backend; rebuild with `cargo build --release --features {feature}`"
            ),
        };
        match self {
            #[cfg(feature = "flex")]
            DeviceSpec::Flex => Ok(Device::flex()),
            #[cfg(not(feature = "flex"))]
            DeviceSpec::Flex => Err(missing("flex")),
            #[cfg(feature = "wgpu")]
            DeviceSpec::Wgpu(adapter) => {
                use burn::tensor::DeviceKind;
                let kind = match adapter {
                    WgpuAdapter::Default => DeviceKind::DefaultDevice,
                    WgpuAdapter::Discrete(i) => DeviceKind::DiscreteGpu(*i),
                    WgpuAdapter::Cpu => DeviceKind::Cpu,
                };
                Ok(Device::wgpu(kind))
            }
            #[cfg(not(feature = "wgpu"))]
            DeviceSpec::Wgpu(_) => Err(missing("wgpu")),
            #[cfg(feature = "cuda")]
            DeviceSpec::Cuda(i) => Ok(Device::cuda(*i)),
            #[cfg(not(feature = "cuda"))]
            DeviceSpec::Cuda(_) => Err(missing("cuda")),
        }
    }
}

/// Parse a device string and build the device in one step.
pub fn parse_device(spec: &str) -> Result<Device> {
    spec.parse::<DeviceSpec>()?.device()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!("flex".parse::<DeviceSpec>().unwrap(), DeviceSpec::Flex);
        assert_eq!(
            "wgpu".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::Wgpu(WgpuAdapter::Default)
        );
        assert_eq!(
            "wgpu:cpu".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::Wgpu(WgpuAdapter::Cpu)
        );
        assert_eq!(
            "wgpu:1".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::Wgpu(WgpuAdapter::Discrete(1))
        );
        assert_eq!("cuda:2".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(2));
        for spec in ["flex", "wgpu", "wgpu:cpu", "wgpu:1", "cuda:2"] {
            assert_eq!(spec.parse::<DeviceSpec>().unwrap().to_string(), spec);
        }
    }

    #[test]
    fn rejects_unknown_devices_with_the_accepted_forms() {
        let err = "tpu:0".parse::<DeviceSpec>().unwrap_err().to_string();
        assert!(err.contains("tpu:0") && err.contains("cuda:N"), "{err}");
        let err = "cuda:x".parse::<DeviceSpec>().unwrap_err().to_string();
        assert!(err.contains("device index"), "{err}");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn missing_backend_names_the_feature() {
        let err = parse_device("cuda:0").unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }

    #[cfg(feature = "flex")]
    #[test]
    fn flex_device_builds() {
        let device = parse_device("flex").unwrap();
        let t = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0], &device);
        assert_eq!(t.sum().into_scalar::<f32>(), 3.0);
    }
}
