//! Which device the model runs on. CPU everywhere (burn's Flex backend, also in wasm); Vulkan
//! natively with the `gpu` feature; WebGPU in the browser.

use burn::tensor::Device;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BackendKind {
    Cpu,
    WebGpu,
    Vulkan,
}

/// In the browser the CPU's name says which of the bundle's CPU builds the loader chose: matrix
/// kernels with fused multiply-adds (relaxed SIMD) or plain SIMD128, which time differently.
#[cfg(all(target_arch = "wasm32", feature = "relaxed-simd"))]
const CPU_LABEL: &str = "CPU (burn Flex, relaxed SIMD)";
#[cfg(all(target_arch = "wasm32", not(feature = "relaxed-simd")))]
const CPU_LABEL: &str = "CPU (burn Flex, SIMD128)";
#[cfg(not(target_arch = "wasm32"))]
const CPU_LABEL: &str = "CPU (burn Flex)";

impl BackendKind {
    pub fn label(self) -> &'static str {
        match self {
            BackendKind::Cpu => CPU_LABEL,
            BackendKind::WebGpu => "WebGPU",
            BackendKind::Vulkan => "Vulkan (wgpu)",
        }
    }
}

pub fn cpu() -> Device {
    Device::flex()
}

/// The native GPU through wgpu's Vulkan backend.
#[cfg(feature = "gpu")]
pub fn vulkan() -> Device {
    Device::vulkan(burn::tensor::DeviceKind::DefaultDevice)
}

/// Initialises WebGPU once; the error says why it is unavailable so the page can show it.
#[cfg(feature = "webgpu")]
pub async fn webgpu() -> Result<Device, String> {
    use burn::tensor::wgpu::WgpuBackend;
    Device::wgpu_options()
        .graphics_api(WgpuBackend::WebGpu)
        .init_async()
        .await
        .map_err(|e| format!("{e}"))
}

/// The bundle's CPU-only build is loaded where the browser offered no WebGPU adapter, or only a
/// software one (www/modscope-loader.js).
#[cfg(all(feature = "web", not(feature = "webgpu")))]
pub async fn webgpu() -> Result<Device, String> {
    Err("CPU-only build loaded (no WebGPU adapter here, or a software one, which is slower than the CPU)".into())
}
