//! Choosing where tensors live.

use burn::tensor::{Device, DeviceKind};
use serde::{Deserialize, Serialize};

/// What the user asked for with `--device`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceChoice {
    /// A real GPU when one is present, else the CPU.
    #[default]
    Auto,
    /// The CPU (burn's `flex` backend).
    Cpu,
    /// The GPU (burn's `wgpu` backend), whatever adapter wgpu picks.
    Gpu,
}

/// A resolved device and a sentence saying which it is (shown to the user).
#[derive(Clone, Debug)]
pub struct ResolvedDevice {
    /// The burn device.
    pub device: Device,
    /// E.g. "CPU (burn flex)".
    pub description: String,
}

impl DeviceChoice {
    /// Resolves the choice. `auto` is the CPU until GPU-adapter detection lands with training
    /// (TODO(#3)): a software-only adapter must never be picked automatically.
    pub fn resolve(self) -> ResolvedDevice {
        match self {
            Self::Auto | Self::Cpu => ResolvedDevice {
                device: Device::flex(),
                description: "CPU (burn flex)".into(),
            },
            Self::Gpu => ResolvedDevice {
                device: Device::wgpu(DeviceKind::DefaultDevice),
                description: "GPU (burn wgpu, default adapter)".into(),
            },
        }
    }
}
