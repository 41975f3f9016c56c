//! Choosing where the network runs: burn's wgpu backend (WebGPU/Vulkan/Metal), or the CPU: upres's
//! own engine (`engine`), or burn's pure-Rust CPU backend (flex), the reference the engine is
//! tested against. A wgpu device is initialised once per process; a software adapter (Mesa's
//! lavapipe, SwiftShader) is slower than the CPU, so `Auto` only takes real GPUs.

use burn::prelude::Device;

use crate::engine::Isa;
use crate::{Error, Result};

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// A hardware GPU through wgpu if there is one, else the CPU.
    #[default]
    Auto,
    /// wgpu, even on a software adapter; an error if none starts.
    Wgpu,
    /// The CPU, with upres's engine.
    Cpu,
    /// The CPU, with burn's CPU backend (flex): the engine's reference, kept to compare with.
    BurnCpu,
}

impl std::str::FromStr for BackendChoice {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "auto" => Ok(Self::Auto),
            "wgpu" | "gpu" | "webgpu" => Ok(Self::Wgpu),
            "cpu" => Ok(Self::Cpu),
            "cpu-burn" => Ok(Self::BurnCpu),
            other => Err(Error::Parameter(format!("unknown backend {other:?}: expected auto, wgpu, cpu or cpu-burn"))),
        }
    }
}

/// A device ready for tensors, with a description for logs and the user.
#[derive(Clone, Debug)]
pub struct Backend {
    pub device: Device,
    /// E.g. "cpu (burn flex)" or "wgpu: NVIDIA H100 (Vulkan, discrete GPU)".
    pub description: String,
    /// Why this backend was chosen (e.g. "no hardware GPU adapter: …").
    pub reason: String,
    pub kernels: Kernels,
}

/// Which code runs the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    /// burn's, on the device.
    Burn,
    /// upres's CPU engine; burn's CPU device only holds the weights until they are packed.
    Engine,
}

impl Backend {
    /// The CPU with upres's engine: what runs wherever there is no GPU.
    pub fn cpu(reason: impl Into<String>) -> Self {
        let description = format!("cpu (upres engine, {})", Isa::detect().name());
        Self { device: cpu_device(), description, reason: reason.into(), kernels: Kernels::Engine }
    }

    /// The CPU with burn's kernels: the reference, and the backend training runs on.
    pub fn burn_cpu(reason: impl Into<String>) -> Self {
        Self {
            device: cpu_device(),
            description: "cpu (burn flex)".into(),
            reason: reason.into(),
            kernels: Kernels::Burn,
        }
    }

    /// Starts the backend the user asked for (native: initialises wgpu synchronously).
    #[cfg(not(target_family = "wasm"))]
    pub fn select(choice: BackendChoice) -> Result<Self> {
        match choice {
            BackendChoice::Cpu => Ok(Self::cpu("requested")),
            BackendChoice::BurnCpu => Ok(Self::burn_cpu("requested")),
            BackendChoice::Wgpu => wgpu_native(true),
            BackendChoice::Auto => Ok(wgpu_native(false).unwrap_or_else(|e| Self::cpu(format!("{e}; using the CPU")))),
        }
    }
}

#[cfg(feature = "cpu")]
fn cpu_device() -> Device {
    Device::flex()
}

#[cfg(not(feature = "cpu"))]
fn cpu_device() -> Device {
    Device::default()
}

#[cfg(all(feature = "wgpu", not(target_family = "wasm")))]
fn wgpu_native(allow_software: bool) -> Result<Backend> {
    use std::sync::OnceLock;
    // wgpu refuses a second initialisation of the same runtime: keep the first result.
    static WGPU: OnceLock<std::result::Result<(Device, String, bool), String>> = OnceLock::new();
    let started = WGPU.get_or_init(|| {
        Device::wgpu_options()
            .init_with_setup()
            .map(|(device, setup)| {
                let info = setup.adapter.get_info();
                let software = info.device_type == burn::tensor::wgpu::wgpu::DeviceType::Cpu;
                let description = format!("wgpu: {} ({:?}, {:?})", info.name, info.backend, info.device_type);
                (device, description, software)
            })
            .map_err(|e| format!("no wgpu adapter could be started ({e})"))
    });
    match started {
        Err(e) => Err(Error::Backend(e.clone())),
        Ok((_, description, true)) if !allow_software => {
            Err(Error::Backend(format!("the only wgpu adapter is a software one ({description})")))
        }
        Ok((device, description, _)) => Ok(Backend {
            device: device.clone(),
            description: description.clone(),
            reason: if allow_software { "requested" } else { "hardware GPU found" }.into(),
            kernels: Kernels::Burn,
        }),
    }
}

#[cfg(all(not(feature = "wgpu"), not(target_family = "wasm")))]
fn wgpu_native(_allow_software: bool) -> Result<Backend> {
    Err(Error::Backend("this build has no wgpu backend".into()))
}
