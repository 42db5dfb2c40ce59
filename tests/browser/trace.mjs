// Which main-thread tasks are long, and what is inside them: a DevTools trace on the CPU path.
//   node tests/browser/trace.mjs [dist|pkg|<folder>]             four keystrokes at ~250 tokens
//   node tests/browser/trace.mjs [dist|pkg|<folder>] --startup   navigation to the first heatmap
// (after building it). Prints the six longest tasks with the events they hold; with --startup also
// the time to the first heatmap and the font lookups Chromium made in its layouts.
import path from 'node:path';
import * as lib from './lib.mjs';
const folder = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 'dist';
const startup = process.argv.includes('--startup');
const server = await lib.serve(path.join(lib.ROOT, folder));
const context = await lib.launch({ webgpu: false });
const page = context.pages()[0] ?? await context.newPage();
const cdp = await context.newCDPSession(page);
const events = [];
cdp.on('Tracing.dataCollected', (d) => events.push(...d.value));
const done = new Promise((r) => cdp.once('Tracing.tracingComplete', r));
const categories = 'devtools.timeline,disabled-by-default-devtools.timeline,v8.execute,blink.user_timing,fonts';
if (startup) {
  await cdp.send('Tracing.start', { categories, transferMode: 'ReportEvents' });
  const started = Date.now();
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#heatmap .grid .tok', { timeout: 180000 });
  console.log(`first heatmap ${Date.now() - started} ms`);
  await lib.nextRun(page, 0, 180000);
  console.log(`first comparison with the dense twin ${Date.now() - started} ms`);
} else {
  await page.goto(`${server.url}/`);
  await lib.nextRun(page, 0, 180000);
  let run = Number(await page.getAttribute('.grid', 'data-run'));
  await page.fill('#text', `${lib.passageOf(251)} z`);
  await lib.nextRun(page, run);
  await cdp.send('Tracing.start', { categories, transferMode: 'ReportEvents' });
  for (const letter of 'abcd') {
    run = Number(await page.getAttribute('.grid', 'data-run'));
    await page.fill('#text', `${lib.passageOf(251)} ${letter}`);
    await lib.nextRun(page, run);
  }
}
await cdp.send('Tracing.end');
await done;
const main = events.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
const onMain = events.filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === 'X');
const tasks = onMain.filter((e) => e.name === 'RunTask' && e.dur > 20000).sort((a, b) => b.dur - a.dur).slice(0, 6);
for (const t of tasks) {
  const inside = {};
  for (const e of onMain) if (e !== t && e.ts >= t.ts && e.ts + (e.dur ?? 0) <= t.ts + t.dur) inside[e.name] = (inside[e.name] ?? 0) + e.dur;
  const top = Object.entries(inside).sort((a, b) => b[1] - a[1]).slice(0, 10).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`);
  console.log(`task ${(t.dur / 1000).toFixed(1)} ms: ${top.join(', ')}`);
}
if (startup) {
  // Each new font size, weight or style costs Chromium on Linux a synchronous call to its browser process.
  const lookups = onMain.filter((e) => e.name === 'WebSandboxSupportLinux::GetWebFontRenderStyleForStrike');
  const inLayout = lookups.filter((f) => onMain.some((l) => l.name === 'Layout' && f.ts >= l.ts && f.ts <= l.ts + l.dur));
  const ms = (list) => (list.reduce((sum, e) => sum + e.dur, 0) / 1000).toFixed(1);
  console.log(`font lookups: ${lookups.length} (${ms(lookups)} ms), ${inLayout.length} of them inside layouts (${ms(inLayout)} ms)`);
}
console.log('tokens', await page.$$eval('.grid .tok', (t) => t.length));
await context.close(); server.close();
