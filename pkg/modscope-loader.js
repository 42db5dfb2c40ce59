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

/**
 * Whether the WebGPU build is worth its download here: there is an adapter, and it is a real GPU
 * (a software adapter such as SwiftShader, WARP or llvmpipe is never faster than the CPU build),
 * unless `backend` asks for WebGPU by name ('cpu' never loads it). The page then still times
 * WebGPU against the CPU on the reader's machine before using it.
 */
async function webGpuMayWin(backend) {
  if (backend === 'cpu') return false;
  try {
    const adapter = navigator.gpu && await navigator.gpu.requestAdapter();
    if (!adapter) return false;
    if (backend === 'webgpu') return true;
    const info = adapter.info ?? {};
    const software = info.isFallbackAdapter || adapter.isFallbackAdapter
      || /swiftshader|llvmpipe|lavapipe|warp|software/i.test(`${info.architecture} ${info.description} ${info.device} ${info.vendor}`);
    return !software;
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

// Every font size, weight and style the demo's first screen draws text in (the CSS's rem sizes at
// 16 px; the explainer's diagram is drawn at 260/300 of its 11 and 10 px). Chromium on Linux asks
// its browser process for each new one, synchronously, during layout; with the two model workers
// busy on a two-core machine those answers took ~17 ms each and ~450 ms in all in the layout of
// the first heatmap. Laying them out once while the downloads are in flight moves that off the
// first heatmap's path. `tests/browser/run.mjs` checks the first screen uses no strike missing here.
const SANS = 'system-ui, -apple-system, "Segoe UI", sans-serif';
export const FONT_STRIKES = [
  ...['9px', '10px', '10.4px', '11px', '11.2px', '12px', '12.8px', '13.6px', '14.08px', '14.4px', '14.72px', '16px',
    '9.53333px', '8.66667px'].map((size) => [SANS, size, 400]),
  ...['12.8px', '13.6px', '14.4px', '16px'].map((size) => [SANS, size, 600]),
  ...['12.8px', '13.6px', '14.4px', '14.72px', '17.6px', '18.72px', '24px'].map((size) => [SANS, size, 700]),
  [SANS, '9px', 400, 'italic'], [SANS, '11px', 400, 'italic'], [SANS, '14.72px', 400, 'italic'],
  ['ui-monospace, monospace', '12.8px', 400], ['monospace', '13px', 400],
];

/** Lays out a line of text in each of `FONT_STRIKES`, out of sight, then removes it. */
function warmFontStrikes() {
  if (!document.body) return;
  const box = document.createElement('div');
  box.setAttribute('aria-hidden', 'true');
  box.style.cssText = 'position:absolute;left:-10000px;top:0;visibility:hidden;pointer-events:none';
  for (const [family, size, weight, style = 'normal'] of FONT_STRIKES) {
    const line = document.createElement('span');
    line.style.font = `${style} ${weight} ${size} ${family}`;
    line.textContent = 'Ag σ·–“”≤→';
    box.append(line);
  }
  document.body.append(box);
  box.getBoundingClientRect(); // lays it out now
  box.remove();
}

/**
 * Resolves to the wasm-bindgen module of the chosen build, initialised. `onProgress(received,
 * expected)` hears the bytes of the wasm and the weights as they arrive; `backend` is the page's
 * or element's `backend` setting ('cpu', 'webgpu' or none).
 */
export async function loadModscope(onProgress = () => {}, { backend } = {}) {
  const progress = { received: 0, expected: 0, report: () => onProgress(progress.received, progress.expected) };
  globalThis.modscopeProgress = progress; // the page's status line reads it while the weights arrive
  globalThis.modscopeDownloads ??= new Map();
  for (const file of WEIGHTS) {
    const url = new URL(file, base).href;
    if (!globalThis.modscopeDownloads.has(url)) globalThis.modscopeDownloads.set(url, counted(url, progress));
  }
  const build = (await webGpuMayWin(backend)) ? 'modscope' : hasRelaxedSimd() ? 'modscope_cpu_relaxed' : 'modscope_cpu';
  // The wasm downloads while its JavaScript glue is imported.
  const wasm = counted(new URL(`${build}_bg.wasm`, base).href, progress);
  warmFontStrikes();
  const bindings = await import(new URL(`${build}.js`, base).href);
  await bindings.default({ module_or_path: wasm });
  return bindings;
}
