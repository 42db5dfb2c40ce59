import path from 'node:path';
import { ROOT, serve, launch, nextRun } from './lib.mjs';
const server = await serve(path.join(ROOT, 'dist'));
const context = await launch({ webgpu: false });
const page = await context.newPage();
await page.setViewportSize({ width: Number(process.env.W ?? 1366), height: Number(process.env.H ?? 768) });
await page.addInitScript(() => {
  window.__shifts = [];
  new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__shifts.push({ t: Math.round(e.startTime), v: e.value.toFixed(3), src: e.sources.map((s) => `${s.node?.nodeName}.${s.node?.className ?? ''} ${JSON.stringify(s.previousRect)}→${JSON.stringify(s.currentRect)}`) }); })
    .observe({ type: 'layout-shift', buffered: true });
});
await page.goto(`${server.url}/`);
await nextRun(page, 0, 120000);
await page.waitForTimeout(500);
console.log(JSON.stringify(await page.evaluate(() => window.__shifts), null, 1));
await page.screenshot({ path: '/tmp/first.png' });
await context.close(); server.close();
