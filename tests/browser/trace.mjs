// Which main-thread tasks are long while typing, and what is inside them: a DevTools trace of four
// keystrokes at ~250 tokens on the CPU path, the six longest tasks with the events they hold.
//   node tests/browser/trace.mjs [dist|pkg|<folder>]   (after building it)
import path from 'node:path';
import * as lib from './lib.mjs';
const server = await lib.serve(path.join(lib.ROOT, process.argv[2] ?? 'dist'));
const words = 'It is a truth universally acknowledged that a single man in possession of a good fortune must be in want of a wife '.split(' ');
const textOf = (n) => Array.from({ length: n }, (_, i) => words[i % (words.length - 1)]).join(' ');
const context = await lib.launch({ webgpu: false });
const { page } = await lib.open(context, `${server.url}/`, server.url);
await lib.nextRun(page, 0, 180000);
const cdp = await context.newCDPSession(page);
const events = [];
cdp.on('Tracing.dataCollected', (d) => events.push(...d.value));
const done = new Promise((r) => cdp.once('Tracing.tracingComplete', r));
let run = Number(await page.getAttribute('.grid', 'data-run'));
await page.fill('#text', `${textOf(183)} z`);
await lib.nextRun(page, run);
await cdp.send('Tracing.start', { categories: 'devtools.timeline,disabled-by-default-devtools.timeline,v8.execute,blink.user_timing', transferMode: 'ReportEvents' });
for (const letter of 'abcd') {
  run = Number(await page.getAttribute('.grid', 'data-run'));
  await page.fill('#text', `${textOf(183)} ${letter}`);
  await lib.nextRun(page, run);
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
console.log('tokens', await page.$$eval('.grid .tok', (t) => t.length));
await context.close(); server.close();
