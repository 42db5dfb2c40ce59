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

/// The outcome of timing both backends on the reader's machine: which to use, and the badge's
/// sentence saying what was measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub kind: BackendKind,
    pub note: String,
}

/// Picks the backend with the lower median of `cpu_ms` and `webgpu_ms` (warm runs of both models,
/// interleaved); a tie, or no WebGPU samples, keeps the CPU, which needs no shaders.
pub fn choose(cpu_ms: &[f64], webgpu_ms: &[f64]) -> Choice {
    let median = |v: &[f64]| {
        let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| v[v.len() / 2])
    };
    let runs = cpu_ms.len().min(webgpu_ms.len());
    match (median(cpu_ms), median(webgpu_ms)) {
        (Some(cpu), Some(gpu)) if gpu < cpu => Choice {
            kind: BackendKind::WebGpu,
            note: format!("WebGPU {gpu:.0} ms, CPU {cpu:.0} ms here (both models, median of {runs}): using WebGPU"),
        },
        (Some(cpu), Some(gpu)) => Choice {
            kind: BackendKind::Cpu,
            note: format!("CPU {cpu:.0} ms, WebGPU {gpu:.0} ms here (both models, median of {runs}): using the CPU"),
        },
        _ => Choice { kind: BackendKind::Cpu, note: "WebGPU could not be timed here: using the CPU".into() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_faster_median_wins_and_the_badge_says_what_was_measured() {
        let gpu = choose(&[31.0, 30.0, 90.0], &[6.0, 7.0, 5.0]);
        assert_eq!(gpu.kind, BackendKind::WebGpu);
        assert_eq!(gpu.note, "WebGPU 6 ms, CPU 31 ms here (both models, median of 3): using WebGPU");
        // One slow outlier on the CPU does not hand the page to a slower GPU.
        let cpu = choose(&[100.0, 4000.0, 98.0], &[4358.0, 4300.0, 4400.0]);
        assert_eq!(cpu.kind, BackendKind::Cpu);
        assert_eq!(cpu.note, "CPU 100 ms, WebGPU 4358 ms here (both models, median of 3): using the CPU");
    }

    #[test]
    fn ties_and_missing_timings_keep_the_cpu() {
        assert_eq!(choose(&[10.0], &[10.0]).kind, BackendKind::Cpu);
        assert_eq!(choose(&[10.0], &[]).kind, BackendKind::Cpu);
        assert_eq!(choose(&[10.0], &[f64::NAN]).kind, BackendKind::Cpu);
    }
}
