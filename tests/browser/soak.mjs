// A reader who leaves the tab open all afternoon: 1,000 runs on the CPU path with wasm memory
// (the page's and its workers') flat within 5% after warm-up, and generation started and stopped
// 100 times with no leak and no stuck button. With --webgpu, also 200 runs on the WebGPU path:
// SwiftShader emulates the GPU at several seconds a run, too slow for every test run.
//   node tests/browser/soak.mjs [--webgpu]     (after `trunk build --release --offline`)
import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT, serve, launch, open, nextRun, SAMPLE_WORDS } from './lib.mjs';

const server = await serve(path.join(ROOT, 'dist'));
const memory = (page) => page.evaluate(() => window.wasmBindings.memory_bytes());
const results = [];
let failed = 0;

async function soak(webgpu, runs) {
  const name = webgpu ? 'webgpu' : 'cpu';
  const context = await launch({ webgpu });
  // On WebGPU by name: left to itself the page keeps whichever backend it measured faster.
  const { page, problems } = await open(context, `${server.url}/${webgpu ? '?backend=webgpu' : ''}`, server.url);
  try {
    await nextRun(page, 0, 180000);
    const samples = {};
    for (let i = 1; i <= runs; i++) {
      const run = Number(await page.getAttribute('.grid', 'data-run'));
      // Lengths cycle through 8..64 words so every shape the page meets comes back again.
      await page.fill('#text', `${SAMPLE_WORDS.slice(0, 8 + (i * 7) % 16).join(' ')} ${i}`.repeat(1 + i % 4));
      await nextRun(page, run, 120000);
      if (i === runs / 10 || i % (runs / 5) === 0) {
        samples[i] = await memory(page);
        console.error(`${name}: run ${i}, wasm memory ${(samples[i] / 2 ** 20).toFixed(1)} MB`);
      }
    }
    const warm = samples[runs / 10];
    const growth = samples[runs] / warm - 1;
    results.push(`${name}: ${runs} runs, memory after warm-up ${(warm / 2 ** 20).toFixed(1)} MB, at the end ${(samples[runs] / 2 ** 20).toFixed(1)} MB (${(100 * growth).toFixed(2)}%)`);
    assert.ok(growth <= 0.05, `${name}: memory grew ${(100 * growth).toFixed(1)}% over ${runs} runs`);
    if (!webgpu) {
      // The first generation builds the models on the page's own thread (generation streams
      // token by token there); count from after it.
      let before = 0;
      for (let i = 0; i <= 100; i++) {
        if (i === 1) before = await memory(page);
        await page.click('#generate');
        await page.waitForFunction(() => document.querySelectorAll('#gen-grid .tok').length >= 1, null, { timeout: 60000 });
        await page.click('#stop');
        await page.waitForFunction(() => !document.querySelector('#generate').disabled && document.querySelector('#stop').disabled, null, { timeout: 30000 });
      }
      const after = await memory(page);
      results.push(`cpu: generation started and stopped 100 times after a first one, memory ${(before / 2 ** 20).toFixed(1)} → ${(after / 2 ** 20).toFixed(1)} MB`);
      assert.ok(after / before - 1 <= 0.05, `generation grew memory ${(100 * (after / before - 1)).toFixed(1)}%`);
    }
    assert.deepEqual(problems, []);
  } catch (e) {
    failed++;
    results.push(`FAIL ${name}: ${e.message.split('\n')[0]}`);
  }
  await context.close();
}

await soak(false, 1000);
if (process.argv.includes('--webgpu')) await soak(true, 200);
server.close();
console.log(results.join('\n'));
process.exit(failed ? 1 : 0);
