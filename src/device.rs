//! Choosing where tensors live.

use std::sync::OnceLock;

use burn::tensor::{Device, DeviceKind};
use eframe::wgpu;
use serde::{Deserialize, Serialize};

/// What the user asked for with `--device`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceChoice {
    /// A real GPU when one is present, else the CPU. A software adapter (lavapipe, WARP,
    /// SwiftShader) is never "a GPU": burn's wgpu backend on it is ~12× slower than `flex`.
    #[default]
    Auto,
    /// The CPU (burn's `flex` backend).
    Cpu,
    /// The GPU (burn's `wgpu` backend): the first real GPU, else whatever adapter wgpu picks.
    Gpu,
}

/// A resolved device and a sentence saying which it is (shown to the user).
#[derive(Clone, Debug)]
pub struct ResolvedDevice {
    /// The burn device.
    pub device: Device,
    /// E.g. "CPU (burn flex)".
    pub description: String,
    /// True for burn's `flex` (CPU) backend, where the fused CPU paths apply.
    pub is_cpu: bool,
}

/// A hardware GPU adapter found by wgpu.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuAdapter {
    /// Adapter name, e.g. "NVIDIA H100 80GB HBM3".
    pub name: String,
    /// Graphics API, e.g. "Vulkan".
    pub backend: String,
    /// Discrete (true) or integrated (false).
    pub discrete: bool,
}

/// The first real (discrete, else integrated) GPU adapter, probed once per process.
pub fn hardware_gpu() -> Option<GpuAdapter> {
    static PROBE: OnceLock<Option<GpuAdapter>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            // Vulkan drivers and loaders print to stderr while they look for displays (e.g.
            // "error: XDG_RUNTIME_DIR is invalid" on a machine without a desktop session):
            // their words are not the user's business, the probe's answer is.
            let adapters = with_stderr_silenced(|| {
                let instance =
                    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
                block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY))
            });
            let infos: Vec<wgpu::AdapterInfo> = adapters.iter().map(|a| a.get_info()).collect();
            let pick = |kind: wgpu::DeviceType| infos.iter().find(|i| i.device_type == kind);
            pick(wgpu::DeviceType::DiscreteGpu)
                .or_else(|| pick(wgpu::DeviceType::IntegratedGpu))
                .map(|i| GpuAdapter {
                    name: i.name.clone(),
                    backend: format!("{:?}", i.backend),
                    discrete: i.device_type == wgpu::DeviceType::DiscreteGpu,
                })
        })
        .clone()
}

/// Runs `f` with file descriptor 2 pointed at `/dev/null` (Linux), then restores it. Other
/// threads' writes to stderr in the meantime are lost too, so keep `f` short.
#[cfg(target_os = "linux")]
fn with_stderr_silenced<T>(f: impl FnOnce() -> T) -> T {
    use std::os::fd::AsRawFd;
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return f();
    };
    // SAFETY: dup, dup2 and close on descriptor 2 (open for the whole process) and on
    // descriptors this function owns; the saved copy is restored and closed before returning.
    let saved = unsafe { libc::dup(2) };
    if saved < 0 || unsafe { libc::dup2(null.as_raw_fd(), 2) } < 0 {
        if saved >= 0 {
            unsafe { libc::close(saved) };
        }
        return f();
    }
    let out = f();
    unsafe {
        libc::dup2(saved, 2);
        libc::close(saved);
    }
    out
}

#[cfg(not(target_os = "linux"))]
fn with_stderr_silenced<T>(f: impl FnOnce() -> T) -> T {
    f()
}

/// Polls a future to completion on this thread (wgpu's native futures are ready at once).
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

/// Below this many parameters `auto` keeps an MLP on the CPU's fused path even where a GPU is
/// present. Measured on an NVIDIA H200 against 2 Xeon cores (2026-12-04, `speed --device gpu`):
/// config A (20,601 parameters) trains at 5.2–6.0 ms/iter on burn's wgpu autodiff against 1.5
/// fused, and samples at 2.9 M particle-steps/s against 6; config B (1.0M) trains at 11.7
/// against 41–47. The fused path's cost grows with the parameters and the GPU's barely below
/// a million, so on 2 cores the two meet near 150,000; more cores move it up.
pub const AUTO_GPU_MIN_PARAMS: usize = 200_000;

impl DeviceChoice {
    /// Resolves the choice for an MLP of `params` parameters: as [`DeviceChoice::resolve`],
    /// except that `auto` takes the CPU for a network below [`AUTO_GPU_MIN_PARAMS`], where the
    /// fused CPU path is faster than a GPU, and says so when there is one.
    pub fn resolve_for_mlp(self, params: usize) -> ResolvedDevice {
        if self == Self::Auto
            && params < AUTO_GPU_MIN_PARAMS
            && let Some(gpu) = hardware_gpu()
        {
            return ResolvedDevice {
                device: Device::flex(),
                description: format!(
                    "CPU (burn flex), auto: a small MLP is faster than {}",
                    gpu.name
                ),
                is_cpu: true,
            };
        }
        self.resolve()
    }

    /// Resolves the choice. `auto` takes a real GPU when wgpu finds one, else the CPU.
    pub fn resolve(self) -> ResolvedDevice {
        let cpu = |why: &str| ResolvedDevice {
            device: Device::flex(),
            description: format!("CPU (burn flex){why}"),
            is_cpu: true,
        };
        let gpu = |adapter: &GpuAdapter| ResolvedDevice {
            device: Device::wgpu(if adapter.discrete {
                DeviceKind::DiscreteGpu(0)
            } else {
                DeviceKind::IntegratedGpu(0)
            }),
            description: format!("GPU (burn wgpu: {}, {})", adapter.name, adapter.backend),
            is_cpu: false,
        };
        match self {
            Self::Cpu => cpu(""),
            Self::Auto => match hardware_gpu() {
                Some(a) => gpu(&a),
                None => cpu(", no hardware GPU found"),
            },
            Self::Gpu => match hardware_gpu() {
                Some(a) => gpu(&a),
                None => ResolvedDevice {
                    device: Device::wgpu(DeviceKind::DefaultDevice),
                    description: "GPU (burn wgpu, default adapter: no hardware GPU found, \
                                  probably a software rasteriser)"
                        .into(),
                    is_cpu: false,
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `auto` never resolves to a software adapter: with no hardware GPU it is the CPU.
    #[test]
    fn auto_is_cpu_without_a_hardware_gpu() {
        let r = DeviceChoice::Auto.resolve();
        match hardware_gpu() {
            None => assert!(r.is_cpu && r.description.starts_with("CPU"), "{r:?}"),
            Some(a) => assert!(!r.is_cpu && r.description.contains(&a.name), "{r:?}"),
        }
        assert!(DeviceChoice::Cpu.resolve().is_cpu);
    }

    /// A small MLP stays on the CPU under `auto`; a large one, or an explicit choice, resolves
    /// as asked.
    #[test]
    fn auto_keeps_small_mlps_on_the_cpu() {
        let small = DeviceChoice::Auto.resolve_for_mlp(20_601);
        // Without a GPU it says why as `resolve` does; with one, why it is not used.
        let why = if hardware_gpu().is_some() {
            "small MLP"
        } else {
            "no hardware GPU"
        };
        assert!(small.is_cpu && small.description.contains(why), "{small:?}");
        let large = DeviceChoice::Auto.resolve_for_mlp(1_020_000);
        assert_eq!(large.is_cpu, hardware_gpu().is_none(), "{large:?}");
        assert!(DeviceChoice::Cpu.resolve_for_mlp(1_020_000).is_cpu);
        assert!(!DeviceChoice::Gpu.resolve_for_mlp(20_601).is_cpu);
    }
}
