// Browser benchmark, in Debian's headless Chromium on this machine: time to first heatmap,
// keystroke-to-heatmap latency at 64 and 256 tokens on each backend, generation speed, wasm
// memory over 200 runs, and the gzip size of what the page downloads.
//   node tests/browser/bench.mjs            (after `trunk build --release --offline`)
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { ROOT, serve, launch, open, nextRun } from './lib.mjs';

const dist = path.join(ROOT, 'dist');
const server = await serve(dist);
const report = {};

function gzipSize(file) {
  return zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;
}
const wasm = fs.readdirSync(dist).find((f) => f.endsWith('.wasm'));
report.wasm_bytes = fs.statSync(path.join(dist, wasm)).size;
report.wasm_gzip_bytes = gzipSize(path.join(dist, wasm));
for (const f of ['mod.safetensors', 'dense.safetensors', 'tokenizer.json']) {
  report[`${f}_gzip_bytes`] = gzipSize(path.join(dist, 'models', f));
}

// Texts of exactly n tokens are hard to type; these are close and the page reports the count.
const words = 'It is a truth universally acknowledged that a single man in possession of a good fortune must be in want of a wife '.split(' ');
const textOf = (n) => Array.from({ length: n }, (_, i) => words[i % (words.length - 1)]).join(' ');

async function keystrokeLatency(page, base, rounds = 15) {
  const times = [];
  for (let i = 0; i < rounds; i++) {
    const text = `${base} ${String.fromCharCode(97 + (i % 26))}`;
    const ms = await page.evaluate(async (t) => {
      const area = document.querySelector('#text');
      const grid = () => Number(document.querySelector('.grid')?.dataset.run ?? 0);
      const before = grid();
      const start = performance.now();
      area.value = t;
      area.dispatchEvent(new Event('input', { bubbles: true }));
      while (grid() === before) await new Promise((r) => requestAnimationFrame(r));
      return performance.now() - start;
    }, text);
    times.push(ms);
  }
  times.sort((a, b) => a - b);
  return { median_ms: times[Math.floor(times.length / 2)], best_ms: times[0] };
}

for (const webgpu of [false, true]) {
  const name = webgpu ? 'webgpu' : 'cpu';
  const context = await launch({ webgpu });
  const started = Date.now();
  const { page } = await open(context, `${server.url}/`, server.url);
  await nextRun(page, 0, 180000);
  const r = { first_heatmap_ms: Date.now() - started, backend: await page.getAttribute('.badge', 'data-backend') };
  for (const n of [64, 256]) {
    const text = textOf(n);
    const run = Number(await page.getAttribute('.grid', 'data-run'));
    await page.fill('#text', text);
    await nextRun(page, run);
    r[`tokens_for_${n}`] = await page.$$eval('#heatmap .tok', (t) => t.length);
    r[`keystroke_to_heatmap_${n}`] = await keystrokeLatency(page, text);
  }
  r.wasm_memory_after_load_mb = (await page.evaluate(() => window.wasmBindings?.wasm_memory_bytes?.() ?? NaN)) / 2 ** 20;
  console.error(`${name}: first heatmap ${r.first_heatmap_ms} ms, latency ${JSON.stringify(r.keystroke_to_heatmap_64)} / ${JSON.stringify(r.keystroke_to_heatmap_256)}`);
  const memory = {};
  try {
    for (let i = 1; i <= 200; i++) {
      const run = Number(await page.getAttribute('.grid', 'data-run'));
      await page.fill('#text', `${textOf(64)} ${i}`);
      await nextRun(page, run);
      if (i % 20 === 0 || i === 1) {
        memory[i] = (await page.evaluate(() => window.wasmBindings.wasm_memory_bytes())) / 2 ** 20;
        console.error(`${name}: run ${i}, wasm memory ${memory[i].toFixed(1)} MB`);
      }
    }
  } catch (e) {
    r.memory_runs_failed = `${e.message.split('\n')[0]} after runs ${Object.keys(memory).join(', ')}`;
  }
  r.wasm_memory_mb = memory;
  r.wasm_memory_growth_20_to_200 = memory[200] / memory[20] - 1;
  if (r.memory_runs_failed) {
    report[name] = r;
    await context.close().catch(() => {});
    continue;
  }
  await page.fill('#text', textOf(64));
  await page.click('#generate');
  await page.waitForFunction(() => document.querySelectorAll('#gen-grid .tok').length >= 32, null, { timeout: 300000 });
  r.generation = await page.textContent('#gen-speed');
  await page.click('#stop');
  report[name] = r;
  await context.close();
}
server.close();
console.log(JSON.stringify(report, null, 2));
