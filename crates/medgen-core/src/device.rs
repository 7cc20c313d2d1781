//! Choosing a Burn device at run time.
//!
//! No medgen crate names a backend: every model, sampler and metric takes a [`Device`]. This
//! module turns a user-facing name (`"cpu"`, `"flex"`, `"ndarray"`, `"wgpu"`) into one, so that
//! examples take a `--device` flag and tests pick their device from the `MEDGEN_TEST_DEVICE`
//! environment variable.

use std::str::FromStr;

use burn::tensor::Device;

use crate::error::{CoreError, Result};

/// A backend a user can ask for by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// Burn's pure-Rust CPU backend (`flex`), the default.
    #[default]
    Cpu,
    /// Burn's deprecated ndarray CPU backend, kept for users who ask for it.
    Ndarray,
    /// A wgpu device: the GPU if there is one, else a software adapter such as lavapipe.
    Wgpu,
    /// A software wgpu adapter (e.g. Mesa's lavapipe), chosen explicitly.
    WgpuSoftware,
}

impl FromStr for DeviceChoice {
    type Err = CoreError;

    fn from_str(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "cpu" | "flex" => Ok(Self::Cpu),
            "ndarray" => Ok(Self::Ndarray),
            "wgpu" | "gpu" => Ok(Self::Wgpu),
            "wgpu-cpu" | "wgpu-software" | "lavapipe" => Ok(Self::WgpuSoftware),
            other => Err(CoreError::Device {
                name: other.to_string(),
                reason: "expected one of cpu, flex, ndarray, wgpu, wgpu-cpu".into(),
            }),
        }
    }
}

impl DeviceChoice {
    /// Reads the choice from environment variable `var`; an unset or empty variable gives
    /// [`DeviceChoice::Cpu`].
    pub fn from_env(var: &str) -> Result<Self> {
        match std::env::var(var) {
            Ok(value) if !value.trim().is_empty() => value.parse(),
            _ => Ok(Self::Cpu),
        }
    }

    /// Builds the Burn device for this choice, or explains which Cargo feature is missing.
    pub fn device(self) -> Result<Device> {
        match self {
            Self::Cpu => cpu_device(),
            Self::Ndarray => ndarray_device(),
            Self::Wgpu => wgpu_device(false),
            Self::WgpuSoftware => wgpu_device(true),
        }
    }

    /// Whether this choice runs on a wgpu adapter.
    pub fn is_wgpu(self) -> bool {
        matches!(self, Self::Wgpu | Self::WgpuSoftware)
    }
}

#[cfg(feature = "flex")]
fn cpu_device() -> Result<Device> {
    Ok(Device::flex())
}

#[cfg(not(feature = "flex"))]
fn cpu_device() -> Result<Device> {
    Err(missing_feature("cpu", "flex"))
}

#[cfg(feature = "ndarray")]
#[allow(deprecated)] // ndarray is deprecated upstream but kept for users who ask for it
fn ndarray_device() -> Result<Device> {
    Ok(Device::ndarray())
}

#[cfg(not(feature = "ndarray"))]
fn ndarray_device() -> Result<Device> {
    Err(missing_feature("ndarray", "ndarray"))
}

#[cfg(feature = "wgpu")]
fn wgpu_device(software: bool) -> Result<Device> {
    use burn::tensor::DeviceKind;
    let kind = if software { DeviceKind::Cpu } else { DeviceKind::DefaultDevice };
    Ok(Device::wgpu(kind))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device(_software: bool) -> Result<Device> {
    Err(missing_feature("wgpu", "wgpu"))
}

#[allow(dead_code)] // unused when every backend feature is on
fn missing_feature(name: &str, feature: &str) -> CoreError {
    CoreError::Device {
        name: name.into(),
        reason: format!("compile medgen with the `{feature}` feature"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_case_insensitively() {
        assert_eq!("CPU".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!("flex".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!("wgpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Wgpu);
        assert_eq!("lavapipe".parse::<DeviceChoice>().unwrap(), DeviceChoice::WgpuSoftware);
    }

    #[test]
    fn unknown_name_is_a_typed_error() {
        let err = "tpu".parse::<DeviceChoice>().unwrap_err();
        assert!(matches!(err, CoreError::Device { .. }));
        assert!(err.to_string().contains("tpu"));
    }
}
