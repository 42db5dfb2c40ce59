// Browser benchmark, in Debian's headless Chromium on this machine, everything side by side in
// one run: navigation to the first heatmap and to its comparison with the dense twin (cold cache;
// by the page's own clock, to the first frame after each reached the DOM),
// keystroke-to-heatmap latency (and to the comparison) at ~64 and 256 tokens, the longest
// main-thread task while runs are in flight, the page's own MoD and dense forward times next to
// ONNX Runtime Web on the dense twin's exact shape (same browser, same run), wasm memory over 200
// runs, generation speed, and what the page downloads (gzip).
//   node tests/browser/bench.mjs [dist|pkg] [--cpu] [--quick] [--first-heatmap]   (after building it; ORT needs `pip install onnx numpy`;
//   --cpu skips the WebGPU path, which on SwiftShader takes several seconds a run; --quick skips
//   the 200-run memory check and generation)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { ROOT, serve, launch, open, nextRun, passageOf } from './lib.mjs';

const dir = path.join(ROOT, process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 'dist');
const server = await serve(dir);
const report = { served: path.relative(ROOT, dir) };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = (xs) => { const s = [...xs].sort((a, b) => a - b); return [s[Math.floor(s.length / 4)], s[Math.floor(3 * s.length / 4)]]; };
const gzipSize = (file) => zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;


/**
 * Types a letter `rounds` times; per keystroke, the time to the new heatmap, the time to the dense
 * twin's comparison beside it, and the page's model times.
 */
async function keystrokes(page, base, rounds = 15) {
  const samples = [];
  await page.evaluate(() => {
    window.__longest = 0;
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longest = Math.max(window.__longest, e.duration); })
      .observe({ type: 'longtask' });
  });
  for (let i = 0; i < rounds; i++) {
    const text = `${base} ${String.fromCharCode(97 + (i % 26))}`;
    samples.push(await page.evaluate(async (t) => {
      const area = document.querySelector('#text');
      const grid = () => Number(document.querySelector('.grid')?.dataset.run ?? 0);
      const before = grid();
      const start = performance.now();
      area.value = t;
      area.dispatchEvent(new Event('input', { bubbles: true }));
      // Bounded: a run that never answers fails the benchmark instead of holding it.
      const frame = () => {
        if (performance.now() - start > 60000) throw new Error('no answer within 60 s of the keystroke');
        return new Promise((r) => requestAnimationFrame(r));
      };
      while (grid() === before) await frame();
      const total = performance.now() - start;
      while (document.querySelector('.status')?.dataset.status !== 'ready') await frame();
      const comparison = performance.now() - start;
      const h = document.querySelector('#flops-total').dataset;
      return { total, comparison, routed: Number(h.routedMs), dense: Number(h.denseMs) };
    }, text));
  }
  const of = (k) => samples.map((s) => s[k]);
  return {
    keystroke_median_ms: median(of('total')), keystroke_iqr_ms: spread(of('total')),
    keystroke_to_comparison_median_ms: median(of('comparison')),
    mod_forward_median_ms: median(of('routed')), dense_forward_median_ms: median(of('dense')),
    longest_task_ms: await page.evaluate(() => window.__longest),
  };
}

/** ONNX Runtime Web (one wasm thread) on the dense twin's shape at length t: median of 15 after 3 warm-ups. */
async function ortWeb(context, t) {
  const cache = path.join(ROOT, 'artifacts', 'ort');
  fs.mkdirSync(cache, { recursive: true });
  const model = path.join(cache, `dense_t${t}.onnx`);
  if (!fs.existsSync(model)) execFileSync(process.env.PYTHON ?? 'python3', [path.join(ROOT, 'scripts/export_onnx.py'), String(t), model], { stdio: 'inherit' });
  const ortDir = path.join(ROOT, 'tests/browser/node_modules/onnxruntime-web/dist');
  // The wasm-only build of ORT-web and the runtime it loads.
  for (const f of ['ort.wasm.min.js', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm']) fs.copyFileSync(path.join(ortDir, f), path.join(cache, f));
  fs.writeFileSync(path.join(cache, 'index.html'), `<!doctype html><pre id="out"></pre><script src="ort.wasm.min.js"></script><script>
  (async () => {
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmPaths = location.origin + '/';
    const s = await ort.InferenceSession.create('dense_t${t}.onnx', { executionProviders: ['wasm'] });
    const ids = new ort.Tensor('int64', BigInt64Array.from({ length: ${t} }, (_, i) => BigInt((i * 37) % 2048)), [1, ${t}]);
    for (let i = 0; i < 3; i++) await s.run({ ids });
    const ts = [];
    for (let i = 0; i < 15; i++) { const a = performance.now(); await s.run({ ids }); ts.push(performance.now() - a); }
    window.__times = ts;
  })().catch((e) => { window.__times = String(e); });
  </script>`);
  const ortServer = await serve(cache);
  const page = await context.newPage();
  await page.goto(`${ortServer.url}/`);
  await page.waitForFunction(() => window.__times !== undefined, null, { timeout: 180000 });
  const times = await page.evaluate(() => window.__times);
  await page.close();
  ortServer.close();
  if (!Array.isArray(times)) throw new Error(`ORT-web failed: ${times}`);
  return { median_ms: median(times), iqr_ms: spread(times) };
}

// --first-heatmap: only navigation to the first heatmap, cold (a fresh browser profile each
// time), five loads, median and quartiles: the first screen's target (≤ 1.0 s on localhost).
if (process.argv.includes('--first-heatmap')) {
  const loads = [];
  for (let i = 0; i < 5; i++) {
    const context = await launch({ webgpu: false });
    await context.addInitScript(() => {
      const watch = new MutationObserver(() => {
        if (window.__firstHeatmap || !document.querySelector('#heatmap .grid .tok')) return;
        const at = performance.now();
        window.__firstHeatmap = new Promise((r) => requestAnimationFrame(() => r({ in_dom_ms: at, drawn_ms: performance.now() })));
        watch.disconnect();
      });
      watch.observe(document, { subtree: true, childList: true });
    });
    const { page } = await open(context, `${server.url}/`, server.url);
    await page.waitForSelector('#heatmap .grid .tok', { timeout: 180000 });
    loads.push((await page.evaluate(() => window.__firstHeatmap)).drawn_ms);
    await context.close();
  }
  console.log(JSON.stringify({ served: report.served, first_heatmap_cold_ms: loads.map(Math.round), median_ms: Math.round(median(loads)), iqr_ms: spread(loads).map(Math.round) }));
  server.close();
  process.exit(0);
}

for (const webgpu of process.argv.includes('--cpu') ? [false] : [false, true]) {
  const name = webgpu ? 'webgpu' : 'cpu';
  const context = await launch({ webgpu });
  // The page's own clock (milliseconds since navigation started) at the first frame after the
  // first heatmap, and after its comparison, reached the DOM: Playwright's waits poll, and their
  // polling adds up to a few hundred milliseconds to what they see.
  await context.addInitScript(() => {
    const seen = () => {
      const at = performance.now();
      return new Promise((r) => requestAnimationFrame(() => r({ in_dom_ms: at, drawn_ms: performance.now() })));
    };
    const watch = new MutationObserver(() => {
      if (!window.__firstHeatmap && document.querySelector('#heatmap .grid .tok')) window.__firstHeatmap = seen();
      if (!window.__firstComparison && document.querySelector('.status')?.dataset.status === 'ready' && document.querySelector('#flops-total')) {
        window.__firstComparison = seen();
        watch.disconnect();
      }
    });
    watch.observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'] });
  });
  server.requests.length = 0;
  const started = Date.now();
  const { page } = await open(context, `${server.url}/`, server.url);
  await page.waitForSelector('#heatmap .grid .tok', { timeout: 180000 });
  const polledHeatmap = Date.now() - started;
  await nextRun(page, 0, 180000);
  const polledComparison = Date.now() - started;
  const [heatmap, comparison] = await page.evaluate(() => Promise.all([window.__firstHeatmap, window.__firstComparison]));
  const r = {
    first_heatmap_ms: heatmap.drawn_ms, first_heatmap_in_dom_ms: heatmap.in_dom_ms, first_heatmap_polled_ms: polledHeatmap,
    first_comparison_ms: comparison.drawn_ms, first_comparison_polled_ms: polledComparison,
    backend: await page.getAttribute('.badge', 'data-backend'),
  };
  const fetched = [...new Set(server.requests.map((u) => decodeURIComponent(u.split('?')[0])))]
    .map((u) => path.join(dir, u.endsWith('/') ? `${u}index.html` : u)).filter((f) => fs.existsSync(f) && fs.statSync(f).isFile());
  r.downloaded_before_first_heatmap_gzip_bytes = fetched.reduce((sum, f) => sum + gzipSize(f), 0);
  // The bundle holds two builds; this is the one the loader chose for this browser.
  const wasm = fetched.filter((f) => f.endsWith('.wasm'));
  r.wasm = wasm.map((f) => path.basename(f));
  r.wasm_bytes = wasm.reduce((sum, f) => sum + fs.statSync(f).size, 0);
  r.wasm_gzip_bytes = wasm.reduce((sum, f) => sum + gzipSize(f), 0);
  for (const n of [64, 256]) {
    const text = passageOf(n);
    const run = Number(await page.getAttribute('.grid', 'data-run'));
    await page.fill('#text', text);
    await nextRun(page, run);
    r[`tokens_for_${n}`] = await page.$$eval('#heatmap .tok', (t) => t.length);
    r[`at_${n}`] = await keystrokes(page, text);
    if (!webgpu) {
      const ort = await ortWeb(context, r[`tokens_for_${n}`]);
      r[`at_${n}`].ort_web_dense = ort;
      r[`at_${n}`].dense_over_ort = r[`at_${n}`].dense_forward_median_ms / ort.median_ms;
      r[`at_${n}`].mod_over_ort = r[`at_${n}`].mod_forward_median_ms / ort.median_ms;
    }
    r[`at_${n}`].mod_over_dense = r[`at_${n}`].mod_forward_median_ms / r[`at_${n}`].dense_forward_median_ms;
    // Where a run's time goes: the page's "Time it" (15 runs) reports the median of each stage.
    const previous = (await page.textContent('#timing')) ?? '';
    await page.click('#time-it');
    await page.waitForFunction((old) => {
      const now = document.querySelector('#timing')?.textContent ?? '';
      return now !== old && /Medians per stage/.test(now);
    }, previous, { timeout: 300000 });
    const timing = await page.textContent('#timing');
    const stages = (model) => {
      const m = timing.match(new RegExp(`${model}: forward ([\\d.]+) ms, read-back ([\\d.]+) ms, analysis ([\\d.]+) ms`));
      return m && { forward_ms: +m[1], readback_ms: +m[2], analysis_ms: +m[3] };
    };
    r[`at_${n}`].stages = { mod: stages('MoD'), dense: stages('dense') };
    console.error(`${name} at ${n}: ${JSON.stringify(r[`at_${n}`])}`);
  }
  if (process.argv.includes('--quick')) {
    report[name] = r;
    await context.close();
    continue;
  }
  const memory = {};
  try {
    for (let i = 1; i <= 200; i++) {
      const run = Number(await page.getAttribute('.grid', 'data-run'));
      await page.fill('#text', `${passageOf(64)} ${i}`);
      await nextRun(page, run);
      if (i % 20 === 0 || i === 1) memory[i] = (await page.evaluate(() => window.wasmBindings.memory_bytes())) / 2 ** 20;
    }
  } catch (e) {
    r.memory_runs_failed = `${e.message.split('\n')[0]} after runs ${Object.keys(memory).join(', ')}`;
  }
  r.wasm_memory_mb = memory;
  r.wasm_memory_growth_20_to_200 = memory[200] / memory[20] - 1;
  if (!r.memory_runs_failed) {
    await page.fill('#text', passageOf(64));
    await page.click('#generate');
    await page.waitForFunction(() => document.querySelectorAll('#gen-grid .tok').length >= 32, null, { timeout: 300000 });
    r.generation = await page.textContent('#gen-speed');
    await page.click('#stop');
  }
  report[name] = r;
  console.error(`${name}: ${JSON.stringify(r)}`);
  await context.close();
}
server.close();
console.log(JSON.stringify(report, null, 2));
