//! Choosing the compute device at run time.
//!
//! burn 0.22 picks the backend from the [`Device`]. Experiments name one
//! with a string: `flex` (pure-Rust CPU, always available by default),
//! `wgpu` / `wgpu:cpu` / `wgpu:N` (GPU N through WGPU, or the CPU adapter for
//! Mesa's software Vulkan), `cuda` / `cuda:N`. We never call
//! `Device::default()`: it prefers GPU backends and can pick a software
//! driver that crashes.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

use burn::tensor::{Device, FloatDType};
use serde::{Deserialize, Serialize};

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
    /// The burn device, opened and checked once per process: a backend not
    /// compiled in, a missing driver or a GPU index that does not exist is
    /// an [`Error::Device`] saying what to do, not a panic inside a kernel
    /// launch later.
    pub fn device(&self) -> Result<Device> {
        static OPENED: OnceLock<Mutex<HashMap<String, Device>>> = OnceLock::new();
        // Held while opening, so two threads asking for the same device do
        // not both try to initialise it.
        let mut opened = OPENED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = self.to_string();
        if let Some(device) = opened.get(&key) {
            return Ok(device.clone());
        }
        let device = self.open()?;
        opened.insert(key, device.clone());
        Ok(device)
    }

    fn error(&self, problem: String) -> Error {
        Error::Device {
            spec: self.to_string(),
            problem,
        }
    }

    fn open(&self) -> Result<Device> {
        // Unused in a build with every backend.
        #[allow(unused_variables)]
        let missing = |feature: &str| {
            self.error(format!(
                "this build of somnium does not include the `{feature}` backend; rebuild with `cargo build --release --features {feature}`"
            ))
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
                Device::wgpu_options().device_kind(kind).init().map_err(|e| {
                    let hint = match adapter {
                        WgpuAdapter::Cpu => {
                            "the CPU adapter is Mesa's lavapipe: install it (Debian/Ubuntu: `apt-get install mesa-vulkan-drivers libvulkan1`)"
                        }
                        _ => {
                            "check the GPU driver and its Vulkan (or Metal/DX12) support, e.g. with `vulkaninfo --summary`; `wgpu:cpu` runs on the CPU through Mesa's lavapipe"
                        }
                    };
                    self.error(format!("WGPU could not open it ({e}); {hint}"))
                })
            }
            #[cfg(not(feature = "wgpu"))]
            DeviceSpec::Wgpu(_) => Err(missing("wgpu")),
            #[cfg(feature = "cuda")]
            DeviceSpec::Cuda(i) => {
                let index = *i;
                // Listing CUDA devices loads the driver, which may panic where
                // none is installed; turn either failure into an error.
                let listed = std::panic::catch_unwind(|| {
                    burn::tensor::Device::enumerate(burn::tensor::DeviceType::Cuda).into_vec()
                });
                let device = Device::cuda(index);
                match listed {
                    Ok(devices) if devices.contains(&device) => Ok(device),
                    Ok(devices) => Err(self.error(format!(
                        "no CUDA device {index}: this machine has {} (see `nvidia-smi`)",
                        devices.len()
                    ))),
                    Err(_) => Err(self.error(
                        "the CUDA driver could not be loaded; check `nvidia-smi` and the CUDA installation".into(),
                    )),
                }
            }
            #[cfg(not(feature = "cuda"))]
            DeviceSpec::Cuda(_) => Err(missing("cuda")),
        }
    }
}

/// Parse a device string and open the device in one step.
pub fn parse_device(spec: &str) -> Result<Device> {
    spec.parse::<DeviceSpec>()?.device()
}

/// Floating-point precision of a run's tensors (`run.precision`).
///
/// burn 0.22 sets a device's default float type once, before any tensor
/// exists on it; every parameter, activation and gradient then uses it.
/// The optimisers keep f32 master weights and moments
/// ([`crate::nn::master_weights`]), and in f16 losses are scaled
/// dynamically ([`crate::nn::loss_scale`]). Use it on GPUs
/// with fast half arithmetic; on `flex` it is slower than f32 (bf16
/// matmuls widen to f32) and serves to test a configuration before a GPU
/// run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats everywhere.
    #[default]
    F32,
    /// IEEE half precision (5-bit exponent: watch for overflow).
    F16,
    /// bfloat16 (f32's range, 8 bits of mantissa).
    Bf16,
}

impl Precision {
    fn dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::F16 => FloatDType::F16,
            Precision::Bf16 => FloatDType::BF16,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        })
    }
}

/// Open the device `spec` with floats of `precision`. The precision of a
/// device is fixed for the life of the process once a tensor exists on it;
/// asking for another is an error rather than a silent mix.
pub fn open_device(spec: &str, precision: Precision) -> Result<Device> {
    let mut device = parse_device(spec)?;
    let wanted = precision.dtype();
    if device.settings().float_dtype == wanted {
        return Ok(device);
    }
    let problem = if !device.supports_dtype(wanted) {
        format!("this backend cannot compute in {precision}; use `run.precision = \"f32\"`")
    } else {
        match device.configure(wanted) {
            Ok(()) => return Ok(device),
            Err(e) => format!(
                "cannot switch it to {precision}: it already holds {:?} tensors in this process ({e})",
                device.settings().float_dtype
            ),
        }
    };
    Err(Error::Device {
        spec: spec.to_string(),
        problem,
    })
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
