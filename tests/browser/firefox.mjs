// The page in a second engine: Firefox ESR (Debian's), driven over WebDriver BiDi by
// puppeteer-core. Firefox on Linux has no WebGPU, so its readers get the CPU path: the page must
// load, route exactly as the native CLI does, follow typing, and embed. Screenshots in artifacts/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { ROOT, serve, cliRouting, checks, withDeadline, routedLayers } from './lib.mjs';

const ARTIFACTS = path.join(ROOT, 'artifacts');
fs.mkdirSync(ARTIFACTS, { recursive: true });
const SAMPLE = 'Emma Woodhouse, handsome, clever, and rich, with a comfortable home and happy disposition, seemed to unite some of the best blessings of existence.';
const { check, results, failures } = checks('firefox: ');

const routingIn = (page, root = 'document') => page.evaluate((root) => {
  const scope = root === 'document' ? document : document.querySelector(root).shadowRoot;
  return [...scope.querySelectorAll('#heatmap .tok')].map((t) => [...t.querySelectorAll('.cell')]
    .map((c) => c.classList.contains('dense') ? 'd' : c.classList.contains('on') ? 'x' : '.').join(''));
}, root);
const runNumber = (page) => page.evaluate(() => Number(document.querySelector('.grid[data-run]')?.dataset.run ?? 0));
async function nextRun(page, after, timeout = 120000) {
  await page.waitForFunction((n) => Number(document.querySelector('.grid[data-run]')?.dataset.run ?? 0) > n
    && !['running', 'comparing'].includes(document.querySelector('.status')?.dataset.status), { timeout }, after);
}

// Firefox has been seen to start, open its BiDi socket and never create a page: a start that
// does not give a page within a minute is abandoned and tried once more, then the run fails.
async function start() {
  for (let attempt = 1; ; attempt++) {
    let browser;
    try {
      browser = await withDeadline(puppeteer.launch({
        browser: 'firefox', executablePath: process.env.FIREFOX ?? '/usr/bin/firefox-esr', headless: true, protocolTimeout: 120000,
        extraPrefsFirefox: { 'network.proxy.type': 0, 'app.update.enabled': false, 'datareporting.policy.dataSubmissionEnabled': false },
      }), 60000, 'starting Firefox');
      return { browser, page: await withDeadline(browser.newPage(), 60000, 'opening a Firefox page') };
    } catch (e) {
      browser?.process()?.kill('SIGKILL');
      if (attempt === 2) throw e;
      console.log(`firefox: ${e.message}; starting it again`);
    }
  }
}

const { browser, page } = await start();
const dist = await serve(path.join(ROOT, 'dist'));
const expected = cliRouting(SAMPLE);
const errors = [];
try {
  await page.setViewport({ width: 1200, height: 1400 });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  await page.goto(`${dist.url}/`);

  await check('loads on the CPU path and draws the heatmap', async () => {
    await nextRun(page, 0);
    assert.equal(await page.$eval('.badge', (b) => b.dataset.backend), 'cpu');
    const rows = await routingIn(page);
    const k = Math.ceil(0.125 * rows.length);
    for (const l of routedLayers(rows)) assert.equal(rows.filter((r) => r[l] === 'x').length, k, `layer ${l}`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'firefox.png') });
  });

  await check('routes exactly as the native CLI does', async () => {
    const run = await runNumber(page);
    await page.$eval('#text', (t, text) => { t.value = text; t.dispatchEvent(new Event('input', { bubbles: true })); }, SAMPLE);
    await nextRun(page, run);
    assert.deepEqual(await routingIn(page), expected);
  });

  await check('multi-byte text shows its characters, never U+FFFD', async () => {
    const run = await runNumber(page);
    await page.$eval('#text', (t) => { t.value = 'Café, naïve — 東京 👩‍👩‍👧'; t.dispatchEvent(new Event('input', { bubbles: true })); });
    await nextRun(page, run);
    const shown = await page.$$eval('#heatmap .tok-text', (t) => t.map((e) => e.textContent).join(''));
    assert.ok(!shown.includes('\uFFFD'), shown);
    assert.ok(shown.includes('é') && shown.includes('東'), shown);
  });

  await check('the embeddable bundle works in a blog post', async () => {
    const root = await serve(ROOT);
    const post = await browser.newPage();
    post.on('pageerror', (e) => errors.push(`embed page error: ${e.message}`));
    await post.goto(`${root.url}/blog/post/www/embed.html`);
    await post.waitForFunction(() => document.querySelector('#demo-heatmap')?.shadowRoot?.querySelector('.grid .tok'), { timeout: 120000 });
    const rows = await routingIn(post, '#demo-heatmap');
    assert.equal(rows.filter((r) => r[1] === 'x').length, Math.ceil(0.125 * rows.length));
    await post.screenshot({ path: path.join(ARTIFACTS, 'firefox-embed.png') });
    await post.close();
    root.close();
  });

  await check('no page errors', async () => assert.deepEqual(errors, []));
} finally {
  await withDeadline(browser.close(), 30000, "closing Firefox").catch(() => browser.process()?.kill("SIGKILL"));
  dist.close();
}
console.log(`\nfirefox: ${results.length - failures()} passed, ${failures()} failed`);
process.exit(failures() ? 1 : 0);
