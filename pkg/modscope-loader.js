// Loads modscope's wasm module, choosing the build: the one with WebGPU where the browser offers
// an adapter, else a CPU-only build (a quarter of the download: no wgpu, no shader compiler),
// with fused multiply-adds where the browser has WebAssembly relaxed SIMD (Chrome 114+), plain
// SIMD128 elsewhere.
// The weights download at the same time as the wasm, and the bytes received so far are reported
// for a progress bar (and left in `globalThis.modscopeProgress`). The page takes the weight
// downloads over from `globalThis.modscopeDownloads` (absolute URL → Promise<Response>) instead of
// fetching them again.
const base = new URL('./', import.meta.url).href;
const WEIGHTS = ['models/mod.q8.safetensors', 'models/dense.q8.safetensors', 'models/tokenizer.json'];

async function hasWebGpuAdapter() {
  try {
    return Boolean(navigator.gpu && await navigator.gpu.requestAdapter());
  } catch {
    return false;
  }
}

// A module whose one function uses `f32x4.relaxed_madd`: it validates only where relaxed SIMD runs.
const RELAXED_SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 0, 32, 0, 253, 133, 2, 11,
]);

function hasRelaxedSimd() {
  try {
    return WebAssembly.validate(RELAXED_SIMD_PROBE);
  } catch {
    return false;
  }
}

/** `fetch(url)`, counting the body's bytes into `progress` as they arrive. */
async function counted(url, progress) {
  const response = await fetch(url);
  if (!response.ok || !response.body) return response;
  // Content-Length is the size on the wire; a compressed body yields more bytes than that, so
  // the total grows to match what arrives.
  progress.expected += Number(response.headers.get('content-length')) || 0;
  progress.report();
  const reader = response.body.getReader();
  const body = new ReadableStream({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) {
        controller.close();
        return;
      }
      progress.received += value.byteLength;
      progress.expected = Math.max(progress.expected, progress.received);
      progress.report();
      controller.enqueue(value);
    },
    cancel: (why) => reader.cancel(why),
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/**
 * Resolves to the wasm-bindgen module of the chosen build, initialised. `onProgress(received,
 * expected)` hears the bytes of the wasm and the weights as they arrive.
 */
export async function loadModscope(onProgress = () => {}) {
  const progress = { received: 0, expected: 0, report: () => onProgress(progress.received, progress.expected) };
  globalThis.modscopeProgress = progress; // the page's status line reads it while the weights arrive
  globalThis.modscopeDownloads ??= new Map();
  for (const file of WEIGHTS) {
    const url = new URL(file, base).href;
    if (!globalThis.modscopeDownloads.has(url)) globalThis.modscopeDownloads.set(url, counted(url, progress));
  }
  const build = (await hasWebGpuAdapter()) ? 'modscope' : hasRelaxedSimd() ? 'modscope_cpu_relaxed' : 'modscope_cpu';
  // The wasm downloads while its JavaScript glue is imported.
  const wasm = counted(new URL(`${build}_bg.wasm`, base).href, progress);
  const bindings = await import(new URL(`${build}.js`, base).href);
  await bindings.default({ module_or_path: wasm });
  return bindings;
}
