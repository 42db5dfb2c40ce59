// The page as a person uses it, in Debian's headless Chromium: the CPU path (no WebGPU adapter)
// and the WebGPU path (SwiftShader), typing, controls, generation and hostile input.
// Screenshots land in artifacts/ — look at them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, serve, launch, open, nextRun, routing, routedLayers, typeText, checks } from './lib.mjs';

const ARTIFACTS = path.join(ROOT, 'artifacts');
fs.mkdirSync(ARTIFACTS, { recursive: true });
const server = await serve(path.join(ROOT, 'dist'));
const { check, results, failures } = checks();

// One sentence, as a post or a slide would show it (two lines of grid at 800 px).
const SENTENCE = 'It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.';
const SAMPLE = 'Emma Woodhouse, handsome, clever, and rich, with a comfortable home and happy disposition, seemed to unite some of the best blessings of existence.';
let cpuRouting = null;
/** A body background, as rgb numbers, that is dark (each channel below 64). */
const lumDark = (rgb) => rgb.length >= 3 && rgb.slice(0, 3).every((v) => v < 64);

// ---- CPU path: headless Chromium without flags has no WebGPU adapter.
{
  const context = await launch({ webgpu: false });
  const { page, problems } = await open(context, `${server.url}/`, server.url);

  await check('cpu: loads, falls back to the CPU and shows the heatmap', async () => {
    await nextRun(page, 0, 120000);
    assert.equal(await page.getAttribute('.badge', 'data-backend'), 'cpu');
    assert.match(await page.textContent('.badge-note'), /WebGPU|adapter/i);
    const rows = await routing(page);
    assert.ok(rows.length > 20, `only ${rows.length} tokens drawn`);
    assert.ok(rows.every((r) => r.length === 8), 'every token has 8 layer cells');
    // The first block dense, every other layer either dense in every cell or routed in every
    // cell, and each routed layer processing exactly k tokens at 12.5% capacity.
    const routed = routedLayers(rows);
    assert.ok(rows.every((r) => r[0] === 'd'), 'the first block is dense');
    assert.ok(routed.length >= 1, 'some layer is routed');
    for (let l = 0; l < 8; l++) if (!routed.includes(l)) assert.ok(rows.every((r) => r[l] === 'd'), `layer ${l} is dense or routed, not mixed`);
    const k = Math.ceil(0.125 * rows.length);
    for (const l of routed) assert.equal(rows.filter((r) => r[l] === 'x').length, k, `layer ${l} processes k tokens`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'cpu.png'), fullPage: true });
  });

  await check('cpu: typing changes the heatmap', async () => {
    const before = await routing(page);
    await typeText(page, SAMPLE);
    const after = await routing(page);
    assert.notDeepEqual(after, before);
    assert.equal(await page.$eval('#text', (t) => t.value), SAMPLE);
    cpuRouting = after;
  });

  await check("cpu: a keystroke's heatmap is drawn before the dense twin's comparison, which is of the same text", async () => {
    const { before, order, heatmapTokens, tableTokens } = await page.evaluate(async (text) => {
      const run = () => Number(document.querySelector('.grid')?.dataset.run ?? 0);
      const status = () => document.querySelector('.status')?.dataset.status;
      const before = run();
      const order = [];
      // Records in the order the page made them: a new heatmap's run number, and each status it left.
      const observer = new MutationObserver((records) => {
        for (const r of records) order.push(r.attributeName === 'data-run' ? `heatmap ${r.target.dataset.run}` : `left ${r.oldValue}`);
      });
      observer.observe(document.querySelector('.modscope'), { subtree: true, attributes: true, attributeOldValue: true, attributeFilter: ['data-run', 'data-status'] });
      // A new grid element arrives with its run number already set: count it as drawn when it is attached.
      const grids = new MutationObserver((records) => {
        for (const r of records) for (const n of r.addedNodes) if (n.classList?.contains('grid')) order.push(`heatmap ${n.dataset.run}`);
      });
      grids.observe(document.querySelector('#heatmap'), { subtree: true, childList: true });
      const area = document.querySelector('#text');
      area.value = text;
      area.dispatchEvent(new Event('input', { bubbles: true }));
      const deadline = performance.now() + 60000;
      while (!(run() > before && status() === 'ready')) {
        if (performance.now() > deadline) throw new Error('no new heatmap within 60 s of the input');
        await new Promise((r) => requestAnimationFrame(r));
      }
      observer.disconnect();
      grids.disconnect();
      const tableTokens = Number(document.querySelector('table.flops tbody td:nth-child(3)').textContent.split('/')[1]);
      return { before, order, heatmapTokens: document.querySelectorAll('#heatmap .tok').length, tableTokens };
    }, `${SAMPLE} Again.`);
    const drawn = order.findIndex((e) => e.startsWith('heatmap ') && Number(e.split(' ')[1]) > before);
    const compared = order.indexOf('left comparing');
    assert.ok(drawn >= 0 && compared > drawn, `heatmap drawn while the comparison was pending: ${order.join(', ')}`);
    assert.equal(tableTokens, heatmapTokens, 'the FLOPs table counts the tokens the heatmap shows');
    await typeText(page, SAMPLE);
    assert.deepEqual(await routing(page), cpuRouting);
  });

  await check('cpu: capacity slider reaches 100% and back', async () => {
    let run = Number(await page.getAttribute('.grid', 'data-run'));
    await page.$eval('#capacity', (s) => { s.value = '1'; s.dispatchEvent(new Event('input', { bubbles: true })); });
    run = await nextRun(page, run);
    assert.ok((await routing(page)).every((r) => !r.includes('.')), 'at 100% nothing is skipped');
    assert.match(await page.textContent('#capacity-value'), /100\.0%/);
    await page.$eval('#capacity', (s) => { s.value = '0.125'; s.dispatchEvent(new Event('input', { bubbles: true })); });
    await nextRun(page, run);
    assert.deepEqual(await routing(page), cpuRouting);
  });

  await check('cpu: causal mode uses the predictor and reports agreement', async () => {
    const run = Number(await page.getAttribute('.grid', 'data-run'));
    await page.click('#mode-causal');
    await nextRun(page, run);
    assert.ok(await page.isDisabled('#capacity'));
    assert.match(await page.textContent('#agreement'), /agrees with top-k/);
    const run2 = Number(await page.getAttribute('.grid', 'data-run'));
    await page.click('#mode-topk');
    await nextRun(page, run2);
    assert.deepEqual(await routing(page), cpuRouting);
  });

  await check('cpu: FLOPs table and measured time', async () => {
    // The headline's time is never one run: the median of five warm runs, topped up when idle.
    await page.waitForFunction(() => Number(document.querySelector('#flops-total')?.dataset.samples) >= 5, null, { timeout: 120000 });
    const headline = await page.textContent('#flops-total');
    assert.match(headline, /saved/);
    assert.match(headline, /MoD [\d.]+ ms, dense [\d.]+ ms \([\d.]+× the time; median of 5 warm runs, quartiles [\d.]+–[\d.]+\)/);
  });

  await check('cpu: "Time it" reports medians with quartiles next to the FLOPs ratio', async () => {
    await page.click('#time-it');
    await page.waitForFunction(() => /runs on .*median .*quartiles.*FLOPs ratio of 0\.\d\d/.test(document.querySelector('#timing')?.textContent ?? ''), null, { timeout: 120000 });
    const stages = await page.textContent('#timing');
    assert.match(stages, /MoD: forward [\d.]+ ms, read-back [\d.]+ ms, analysis [\d.]+ ms; dense: forward/);
    const forward = Number(stages.match(/MoD: forward ([\d.]+) ms/)[1]);
    assert.ok(forward > 0, 'the forward pass takes time');
  });

  await check('cpu: the capacity sweep draws FLOPs and time ratios for every capacity', async () => {
    await page.click('#sweep-capacity');
    await page.waitForSelector('.sweep-chart', { timeout: 120000 });
    await page.waitForFunction(() => (document.querySelector('.sweep-chart')?.getAttribute('aria-label') ?? '').split(';').length === 8, null, { timeout: 120000 });
    const label = await page.getAttribute('.sweep-chart', 'aria-label');
    const flops = [...label.matchAll(/FLOPs ratio ([\d.]+)/g)].map((m) => Number(m[1]));
    assert.ok(flops.every((f, i) => i === 0 || f >= flops[i - 1]), `FLOPs ratio rises with capacity: ${flops}`);
    assert.ok(flops[7] > 1, 'at 100% MoD costs more than dense (router and predictor)');
  });

  await check("cpu: pooling the held-out passages reproduces the model card's depth–entropy correlation", async () => {
    await page.click('#pool-passages');
    await page.waitForFunction(() => /^Pooled over 32 /.test(document.querySelector('#pooled')?.textContent ?? ''), null, { timeout: 180000 });
    const text = await page.textContent('#pooled');
    assert.match(text, /n = 8192 tokens, top-k at 12\.5% capacity/);
    const pooled = Number(text.match(/\): r = (-?[\d.]+)/)[1]);
    const card = JSON.parse(fs.readFileSync(path.join(ROOT, 'docs/report.json'), 'utf8')).depth_entropy_correlation;
    assert.match(text, new RegExp(`model card reports r = ${card.toFixed(3)}`));
    // The page runs the 8-bit weights: the same passages, nearly the same decisions.
    assert.ok(Math.abs(pooled - card) < 0.01, `pooled r ${pooled} vs the model card's ${card}`);
  });

  await check('cpu: generation streams tokens and stops', async () => {
    await page.click('#generate');
    await page.waitForFunction(() => document.querySelectorAll('#gen-grid .tok').length >= 4, null, { timeout: 60000 });
    await page.click('#stop');
    await page.waitForFunction(() => !document.querySelector('#generate').disabled);
    const n = await page.$$eval('#gen-grid .tok', (t) => t.length);
    // A negative check needs a window of time: nothing may arrive during it.
    await page.waitForTimeout(800);
    assert.equal(await page.$$eval('#gen-grid .tok', (t) => t.length), n, 'no tokens after stop');
    assert.ok(n < 64, 'stopped before the end');
    assert.match(await page.textContent('#gen-speed'), /tokens\/s/);
    assert.ok((await page.textContent('#gen-dense')).length > 0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'cpu-generation.png'), fullPage: true });
  });

  await check('cpu: awkward and hostile input is shown as text, never run', async () => {
    const inputs = ['👩‍👩‍👧‍👦 🇬🇧 e\u0301', 'שלום עולם مرحبا بالعالم', 'a\u200bb\u200dc\u0000d\u0007e',
      '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">', 'x'];
    for (const text of inputs) {
      await typeText(page, text);
      assert.equal(await page.$eval('#text', (t) => t.value), text);
      assert.ok((await routing(page)).length >= 1);
      const shown = await page.$$eval('#heatmap .tok-text', (t) => t.map((e) => e.textContent).join(''));
      assert.ok(!shown.includes('\uFFFD'), `U+FFFD shown for valid text: ${shown}`);
    }
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.equal(await page.$$eval('#heatmap img, #heatmap script', (e) => e.length), 0);
  });

  await check('cpu: empty text gets a message and loses nothing else', async () => {
    await page.fill('#text', '');
    await page.waitForFunction(() => /Type some text/.test(document.querySelector('.status').textContent));
    await typeText(page, SAMPLE);
    assert.deepEqual(await routing(page), cpuRouting);
  });

  await check('cpu: 100k characters are windowed to the context, said on screen', async () => {
    await typeText(page, 'It was a fine day. '.repeat(5300));
    assert.match(await page.textContent('#window-note'), /sees the last 256/);
    assert.equal((await routing(page)).length, 256);
    await typeText(page, SAMPLE);
  });

  await check('cpu: a popover at the pointer explains the cell under it, inside the window', async () => {
    await page.hover('#heatmap .grid .cell.on');
    await page.waitForSelector('.popover');
    const text = await page.textContent('.popover');
    assert.match(text, /token \d+ of \d+.*Layer \d: processed.*router score σ\(r\) [\d.]+, rank \d+ of \d+.*causal predictor p = /s);
    const box = await page.$eval('.popover', (p) => { const r = p.getBoundingClientRect(); return { left: r.left, right: r.right, width: innerWidth }; });
    assert.ok(box.left >= 0 && box.right <= box.width, `popover at ${box.left}–${box.right} in a ${box.width}px window`);
    await page.hover('#heatmap .grid .tok-text');
    assert.match(await page.textContent('.popover'), /(processed by L\d|skipped by all \d routed blocks).*next-token entropy/s);
    await page.screenshot({ path: path.join(ARTIFACTS, 'cpu-popover.png') });
    await page.mouse.move(5, 5);
    await page.waitForSelector('.popover', { state: 'detached' });
  });

  await check('cpu: the reading view shows the text as written, a bar per routed layer under each token', async () => {
    const rows = await routing(page);
    const tokens = rows.length;
    const routed = routedLayers(rows).length;
    await page.check('#reading-view');
    try {
      await page.waitForSelector('.reading .rt');
      assert.equal(await page.locator('.reading .rt').count(), tokens);
      assert.equal(await page.$$eval('.reading .rt-text', (t) => t.map((x) => x.textContent).join('')), SAMPLE);
      assert.equal(await page.locator('.reading .rt-bars .bar').count(), routed * tokens);
      assert.equal(await page.locator('.reading .bar.on').count(), routed * Math.ceil(0.125 * tokens), 'top-k: k processed per routed layer');
      await page.screenshot({ path: path.join(ARTIFACTS, 'cpu-reading-view.png') });
    } finally {
      // Back to the grid whatever happened, so one failure does not fail the checks after it.
      await page.uncheck('#reading-view');
      await page.waitForSelector('#heatmap .grid');
    }
  });

  await check('cpu: the heatmap is one Tab stop, and arrow keys walk tokens and layers', async () => {
    // Nothing inside the grid takes focus by Tab; the grid itself does.
    assert.equal(await page.$$eval('#heatmap .grid [tabindex]', (e) => e.filter((x) => x.tabIndex >= 0).length), 0);
    assert.equal(await page.getAttribute('#heatmap .grid', 'role'), 'grid');
    await page.focus('#text');
    let tabs = 0;
    while (tabs < 40 && !(await page.evaluate(() => document.activeElement?.getAttribute('role') === 'grid'))) {
      await page.keyboard.press('Tab');
      tabs += 1;
    }
    assert.ok(tabs < 40, 'the grid is reachable by Tab');
    await page.keyboard.press('Control+Home');
    assert.equal(await page.getAttribute('#heatmap .grid', 'aria-activedescendant'), 'hm-0-0');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    const id = await page.getAttribute('#heatmap .grid', 'aria-activedescendant');
    assert.equal(id, 'hm-2-2');
    assert.match(await page.getAttribute(`#${id}`, 'aria-label'), /^layer 1: (processed|skipped), router score/);
    assert.match(await page.textContent('.details'), /Token 3/);
    // The keyboard's cell shows its details beside it, as the pointer's does.
    await page.waitForSelector('.popover');
    const near = await page.evaluate((cellId) => {
      const cell = document.getElementById(cellId).getBoundingClientRect();
      const pop = document.querySelector('.popover').getBoundingClientRect();
      return { gap: pop.top - cell.bottom, text: document.querySelector('.popover').textContent };
    }, id);
    assert.ok(near.gap >= 0 && near.gap < 20, `popover ${near.gap.toFixed(0)} px under the focused cell`);
    assert.match(near.text, /token 3 of \d+.*Layer 1: (processed|skipped)/s);
    await page.keyboard.press('End');
    const tokens = (await routing(page)).length;
    assert.equal(await page.getAttribute('#heatmap .grid', 'aria-activedescendant'), `hm-${tokens - 1}-2`);
    await page.keyboard.press('Home');
    assert.equal(await page.getAttribute('#heatmap .grid', 'aria-activedescendant'), 'hm-0-2');
    // A token's accessible name says which routed layers took it.
    assert.match(await page.getAttribute('#hm-0-0', 'aria-label'), /^token 1: .*(processed by routed layers [\d, ]+|skipped by every routed layer)/);
  });

  await check('cpu: every heatmap state keeps 3:1 contrast against the panel, light and dark', async () => {
    const measure = () => page.evaluate(() => {
      const rgb = (c) => (c.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number);
      const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
        .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
      const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
      const panel = rgb(getComputedStyle(document.querySelector('#heatmap')).backgroundColor);
      const on = [...document.querySelectorAll('#heatmap .cell.on')].map((c) => rgb(getComputedStyle(c).backgroundColor));
      const skipped = rgb(getComputedStyle(document.querySelector('#heatmap .cell.skipped')).borderTopColor);
      const dense = rgb(getComputedStyle(document.querySelector('.modscope')).getPropertyValue('--dense').trim().replace(/^#(..)(..)(..)$/, (_, r, g, b) => `rgb(${parseInt(r, 16)},${parseInt(g, 16)},${parseInt(b, 16)})`));
      return { processed: Math.min(...on.map((c) => ratio(c, panel))), skipped: ratio(skipped, panel), dense: ratio(dense, panel), cells: on.length };
    });
    const light = await measure();
    await page.click('.theme');
    await page.waitForFunction(() => document.querySelector('.modscope').dataset.theme === 'dark');
    const dark = await measure();
    await page.screenshot({ path: path.join(ARTIFACTS, 'cpu-dark.png'), fullPage: true });
    await page.click('.theme');
    for (const [theme, m] of Object.entries({ light, dark })) {
      assert.ok(m.cells > 0);
      for (const state of ['processed', 'skipped', 'dense']) assert.ok(m[state] >= 3, `${theme} ${state}: ${m[state].toFixed(2)}:1`);
    }
  });

  await check('cpu: controls say what they mean: k of T, per-layer predictor scores with the baseline', async () => {
    const grid = await routing(page);
    const tokens = grid.length;
    assert.equal(await page.textContent('#capacity-value'), `12.5% → each routed block processes k = ${Math.ceil(tokens / 8)} of ${tokens} tokens`);
    assert.match(await page.getAttribute('#capacity', 'aria-valuetext'), /k = \d+ of \d+ tokens/);
    const rows = await page.$$eval('table.predictor tbody tr', (r) => r.map((x) => x.textContent));
    assert.equal(rows.length, routedLayers(grid).length, 'one predictor row per routed layer');
    assert.match(await page.textContent('#agreement'), /skipped every token would score/);
  });

  await check('cpu: exports carry labels, key and settings; the trace exports as JSON', async () => {
    const grab = async (button) => {
      const download = page.waitForEvent('download');
      await page.click(button);
      return fs.readFileSync(await (await download).path(), 'utf8');
    };
    const svg = await grab('.export-svg');
    for (const text of ['L1 · k', 'L0 dense', 'top-k routing at 12.5% capacity', 'update weight', 'skipped', 'processed']) assert.ok(svg.includes(text), `SVG lacks ${text}`);
    const csv = (await grab('.export-csv')).trim().split('\n');
    assert.match(csv[0], /,capacity,mode,backend,mod_ms,dense_ms,text$/);
    assert.match(csv[1], /,0\.125,topk,CPU/);
    const json = JSON.parse(await grab('.export-json'));
    assert.equal(json.text, SAMPLE);
    assert.equal(json.mod.analysis.trace.layers.length, 8);
    assert.equal(json.pieces.length, (await routing(page)).length);
  });

  await check('cpu: Share says whether the link was copied and shows it', async () => {
    await page.click('.share');
    await page.waitForSelector('.copied');
    assert.match(await page.textContent('.copied'), /Link copied|Copy it from the box/);
    assert.match(await page.inputValue('.share-link'), /\?text=/);
    await page.click('.embed-code');
    await page.waitForFunction(() => /^<iframe src="[^"]*\?text=/.test(document.querySelector('.share-link').value));
    // Accessible names contain the visible labels (WCAG 2.5.3).
    for (const button of ['.share', '.embed-code']) {
      const [label, text] = await page.$eval(button, (b) => [b.getAttribute('aria-label'), b.textContent]);
      assert.ok(label.startsWith(text), `${button}: "${label}" contains "${text}"`);
    }
  });

  await check('cpu: every chart exports as SVG (title, settings, styles inlined) and PNG', async () => {
    const grab = async (button) => {
      const download = page.waitForEvent('download');
      await page.click(button);
      return fs.readFileSync(await (await download).path());
    };
    const charts = { 'hist-title': ['Router scores per routed layer', 'L1: n ='], 'entropy-title': ['Routed depth against next-token entropy', 'n = '] };
    for (const [panel, texts] of Object.entries(charts)) {
      const svg = (await grab(`section[aria-labelledby=${panel}] .chart-svg`)).toString('utf8');
      for (const text of [...texts, 'top-k routing at 12.5% capacity', 'style="fill:']) assert.ok(svg.includes(text), `${panel} SVG lacks ${text}`);
      assert.ok(await page.evaluate((s) => !new DOMParser().parseFromString(s, 'image/svg+xml').querySelector('parsererror'), svg), `${panel}: not valid SVG`);
    }
    const sweep = (await grab('.sweep .chart-svg')).toString('utf8');
    assert.ok(sweep.includes('measured time') && sweep.includes('FLOPs'), 'the sweep chart carries its key');
    const png = await grab('section[aria-labelledby=hist-title] .chart-png');
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
  });

  await check('cpu: a deep link opens on its token and layer, and Share keeps the selected cell', async () => {
    const linked = await context.newPage();
    await linked.goto(`${server.url}/?text=${encodeURIComponent(SAMPLE)}&token=3&layer=5`);
    await nextRun(linked, 0, 120000);
    assert.ok(await linked.$eval('#hm-2-6', (c) => c.classList.contains('active')), 'the linked cell is marked');
    assert.match(await linked.textContent('.details'), /Token 3/);
    assert.equal(await linked.locator('.details tbody tr').count(), 1, 'only layer 5 is detailed');
    assert.match(await linked.textContent('.details tbody'), /^5routed/);
    await linked.click('.share');
    await linked.waitForSelector('.copied');
    assert.match(await linked.inputValue('.share-link'), /token=3&layer=5/);
    await linked.close();
  });

  await check('cpu: a phone-sized screen has no sideways scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForFunction(() => window.innerWidth === 390);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1));
    await page.screenshot({ path: path.join(ARTIFACTS, 'cpu-phone.png'), fullPage: false });
    await page.setViewportSize({ width: 1200, height: 1400 });
  });

  await check('cpu: the first screen shows the live grid, every routed row, without a layout jump (1366×768, 390×844)', async () => {
    for (const [width, height] of [[1366, 768], [390, 844]]) {
      const first = await context.newPage();
      await first.setViewportSize({ width, height });
      // Layout shifts from navigation on (the PerformanceObserver sees the buffered ones too).
      await first.addInitScript(() => {
        window.__cls = 0;
        new PerformanceObserver((list) => { for (const e of list.getEntries()) if (!e.hadRecentInput) window.__cls += e.value; })
          .observe({ type: 'layout-shift', buffered: true });
      });
      await first.goto(`${server.url}/`);
      await nextRun(first, 0, 120000);
      const seen = await first.evaluate(() => {
        const line = document.querySelector('#heatmap .hm-line').getBoundingClientRect();
        const routedRows = document.querySelectorAll('#heatmap .hm-line:first-child .row-label:not(.dense):not(.text):not(.depth-label)').length;
        return { top: line.top, bottom: line.bottom, scrollY, innerHeight, routedRows, cls: window.__cls, notes: document.querySelector('#noticed')?.textContent ?? '' };
      });
      assert.ok(seen.scrollY === 0 && seen.top >= 0 && seen.bottom <= seen.innerHeight, `${width}×${height}: the grid's first line spans ${seen.top.toFixed(0)}–${seen.bottom.toFixed(0)} px`);
      assert.ok(seen.routedRows >= 1, 'routed rows drawn');
      assert.ok(seen.cls <= 0.1, `${width}×${height}: cumulative layout shift ${seen.cls.toFixed(3)}`);
      // What to notice, computed from this routing: which layer took what, and the depths.
      assert.match(seen.notes, /\d+ of the \d+ tokens went through no routed block/);
      assert.match(seen.notes, /L\d took \d+ /);
      await first.screenshot({ path: path.join(ARTIFACTS, `first-screen-${width}x${height}.png`) });
      await first.emulateMedia({ colorScheme: 'dark' });
      await first.screenshot({ path: path.join(ARTIFACTS, `first-screen-${width}x${height}-dark.png`) });
      await first.close();
    }
  });

  await check('cpu: text and inputs keep 4.5:1 contrast in dark mode, computed from rendered colours', async () => {
    const dark = await context.newPage();
    await dark.emulateMedia({ colorScheme: 'dark' });
    await dark.goto(`${server.url}/`);
    await nextRun(dark, 0, 120000);
    const worst = await dark.evaluate(() => {
      const rgba = (c) => (c.match(/[\d.]+/g) ?? []).map(Number);
      const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
        .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
      const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
      // The colour drawn behind an element: the nearest ancestor with an opaque background.
      const behind = (el) => {
        for (let e = el; e; e = e.parentElement) {
          const c = rgba(getComputedStyle(e).backgroundColor);
          if (c.length === 3 || c[3] > 0.9) return c.slice(0, 3);
        }
        return [255, 255, 255];
      };
      const found = [];
      const picked = document.querySelectorAll('p, label, span, td, th, li, h1, h2, summary, button, select, textarea, input[type=number], output, legend');
      for (const el of picked) {
        if (!el.getClientRects().length || !(el.innerText ?? el.value ?? '').trim()) continue;
        if (el.closest('svg, .cell, .key, .colourbar, .sr-only')) continue;
        const style = getComputedStyle(el);
        if (style.visibility !== 'visible' || Number(style.opacity) < 1) continue;
        found.push({ what: `${el.tagName.toLowerCase()}.${el.className}`.slice(0, 60), ratio: ratio(rgba(style.color).slice(0, 3), behind(el)) });
      }
      const page = rgba(getComputedStyle(document.body).backgroundColor);
      found.sort((a, b) => a.ratio - b.ratio);
      return { lowest: found.slice(0, 3), n: found.length, body: page };
    });
    assert.ok(worst.n > 20, `measured ${worst.n} elements`);
    assert.ok(lumDark(worst.body), `the page behind the content is dark: rgb(${worst.body})`);
    assert.ok(worst.lowest[0].ratio >= 4.5, `lowest contrast in dark mode: ${JSON.stringify(worst.lowest)}`);
    await dark.close();
  });

  await check('cpu: figure mode (chrome=none) is the heatmap alone, as tall as its content: one sentence at 800 px ≤ 300 px', async () => {
    const figure = await context.newPage();
    await figure.setViewportSize({ width: 800, height: 600 });
    await figure.goto(`${server.url}/?chrome=none&heading=off&note=off&text=${encodeURIComponent(SENTENCE)}`);
    await nextRun(figure, 0, 120000);
    assert.equal(await figure.locator('textarea, button, select, input').count(), 0, 'no controls');
    const fit = await figure.evaluate(() => {
      const f = document.querySelector('figure.figure');
      const grid = f.querySelector('.grid');
      return { overflow: grid.scrollHeight - grid.clientHeight, figure: f.getBoundingClientRect().height, content: [...f.children].reduce((s, c) => s + c.getBoundingClientRect().height, 0) };
    });
    assert.ok(fit.overflow <= 1, `the grid scrolls by ${fit.overflow}px`);
    assert.ok(fit.figure <= fit.content + 40, `figure ${fit.figure}px around ${fit.content}px of content`);
    assert.ok(fit.figure <= 300, `one sentence's figure is ${fit.figure.toFixed(0)} px tall at 800 px wide`);
    await figure.screenshot({ path: path.join(ARTIFACTS, 'cpu-figure.png'), fullPage: true });
    await figure.close();
  });

  await check('cpu: a figure for a slide: scale enlarges it to fit 1280×720, heading and note switch off', async () => {
    const slide = await context.newPage();
    await slide.setViewportSize({ width: 1280, height: 720 });
    await slide.goto(`${server.url}/?chrome=none&scale=1.4&heading=off&note=off&text=${encodeURIComponent(SAMPLE)}`);
    await nextRun(slide, 0, 120000);
    const seen = await slide.evaluate(() => {
      const f = document.querySelector('figure.figure');
      // The size a label is drawn at: its font size times the zoom its box shows.
      const drawn = (el) => parseFloat(getComputedStyle(el).fontSize) * el.getBoundingClientRect().height / el.offsetHeight;
      const labels = [...f.querySelectorAll('.row-label')].map(drawn);
      return { smallest: Math.min(...labels), height: f.getBoundingClientRect().height, wide: document.documentElement.scrollWidth,
        heading: f.querySelectorAll('h2').length, note: f.querySelectorAll('.legend .note').length, tokens: f.querySelectorAll('.grid .tok').length };
    });
    assert.ok(seen.tokens > 10, 'the grid is drawn');
    assert.ok(seen.smallest >= 14, `the smallest row label is drawn at ${seen.smallest.toFixed(1)} px`);
    assert.ok(seen.height <= 720 && seen.wide <= 1281, `the figure is ${seen.height.toFixed(0)} px tall, the page ${seen.wide} px wide`);
    assert.deepEqual([seen.heading, seen.note], [0, 0], 'no heading, no note');
    // The popover still lands beside the cell it describes when the figure is zoomed.
    const cell = slide.locator('.grid .cell.on').first();
    await cell.hover();
    const [box, pop] = [await cell.boundingBox(), await slide.locator('.popover').boundingBox()];
    assert.ok(Math.abs(pop.y - (box.y + box.height)) < 40 && pop.x <= box.x + box.width && pop.x + pop.width >= box.x,
      `popover at ${pop.x.toFixed(0)},${pop.y.toFixed(0)} for a cell at ${box.x.toFixed(0)},${box.y.toFixed(0)}`);
    await slide.screenshot({ path: path.join(ARTIFACTS, 'figure-slide-1280x720.png') });
    await slide.emulateMedia({ colorScheme: 'dark' });
    await slide.screenshot({ path: path.join(ARTIFACTS, 'figure-slide-1280x720-dark.png') });
    await slide.close();
  });

  await check('cpu: no console errors, no requests off the origin', async () => {
    assert.deepEqual(problems, []);
  });
  await context.close();
}

// ---- Damaged weights and failed downloads: a message naming the file, the text kept, a Retry that works.
{
  const context = await launch({ webgpu: false });
  const page = await context.newPage();
  const real = fs.readFileSync(path.join(ROOT, 'www/models/dense.q8.safetensors'));
  const flipped = Buffer.from(real);
  flipped[flipped.length - 1000] ^= 0x10;
  let serveDense = 'damaged';
  await page.route('**/models/dense.q8.safetensors', (route) => serveDense === 'damaged' ? route.fulfill({ body: flipped })
    : serveDense === 'missing' ? route.fulfill({ status: 404, body: 'not found' }) : route.continue());
  const text = 'Anne had been a very pretty girl';
  await check('cpu: damaged weights give a clear message, keep the text, and Retry recovers', async () => {
    await page.goto(`${server.url}/?text=${encodeURIComponent(text)}`);
    await page.waitForSelector('#failure', { timeout: 120000 });
    const message = await page.textContent('#failure');
    assert.match(message, /dense\.q8\.safetensors/);
    assert.match(message, /SHA-256|damaged/);
    assert.match(message, /^Could not load models\/dense\.q8\.safetensors\./, 'a plain headline first, naming the file');
    // The failure replaces the panels: one message and Retry, no buttons that cannot run.
    assert.equal(await page.locator('.load-failed #retry').count(), 1);
    assert.equal(await page.locator('#time-it, #generate, #sweep-capacity').evaluateAll((b) => b.filter((e) => e.getClientRects().length).length), 0);
    assert.equal(await page.$eval('#failure details', (d) => d.open), false, 'the cause is collapsed');
    assert.doesNotMatch(message, /wasm-function|at .*\.js|panicked/);
    assert.equal(await page.$eval('#text', (t) => t.value), text);
    await page.screenshot({ path: path.join(ARTIFACTS, 'cpu-damaged-weights.png') });
    serveDense = 'real';
    await page.click('#retry');
    await nextRun(page, 0, 120000);
    assert.equal(await page.$eval('#text', (t) => t.value), text);
    assert.equal(await page.locator('#failure').count(), 0);
  });
  await check('cpu: a failed download says so and Retry recovers', async () => {
    serveDense = 'missing';
    await page.goto(`${server.url}/?text=${encodeURIComponent(text)}`);
    await page.waitForSelector('#failure', { timeout: 120000 });
    assert.match(await page.textContent('#failure'), /dense\.q8\.safetensors.*404|404.*dense/);
    serveDense = 'real';
    await page.click('#retry');
    await nextRun(page, 0, 120000);
    assert.equal(await page.$eval('#text', (t) => t.value), text);
  });
  await context.close();
}

// ---- A hung page fails its check, by name, within the check's limit: the bound that keeps a
// stuck browser from holding CI.
{
  const context = await launch({ webgpu: false });
  const page = await context.newPage();
  // The page's model workers never answer: every message sent to a worker is dropped.
  await page.addInitScript(() => { Worker.prototype.postMessage = function () {}; });
  await check('harness: a page whose workers never answer fails its check within the limit, naming it', async () => {
    const hung = checks('hung: ', { limitMs: 15000, quiet: true });
    const started = Date.now();
    await hung.check('draws a heatmap', async () => {
      await page.goto(`${server.url}/`);
      await nextRun(page, 0, 600000);
    });
    const seconds = (Date.now() - started) / 1000;
    assert.equal(hung.failures(), 1, hung.results.join('\n'));
    assert.match(hung.results[0], /^FAIL hung: draws a heatmap: check "hung: draws a heatmap" ran past its limit/);
    assert.ok(seconds < 30, `the hung check took ${seconds} s to fail`);
  });
  await context.close();
}

// ---- WebGPU path: SwiftShader behind --enable-unsafe-webgpu.
{
  const context = await launch({ webgpu: true });
  // Keep a handle on every GPUDevice the page creates, so a test can take the GPU away.
  await context.addInitScript(() => {
    if (!globalThis.GPUAdapter) return;
    const requestDevice = GPUAdapter.prototype.requestDevice;
    window.__gpuDevices = [];
    GPUAdapter.prototype.requestDevice = async function (...args) {
      const device = await requestDevice.apply(this, args);
      window.__gpuDevices.push(device);
      return device;
    };
  });
  const { page, problems } = await open(context, `${server.url}/`, server.url);
  await check('webgpu: the first heatmap comes from the CPU; then WebGPU is timed here and the faster kept, said in the badge', async () => {
    await nextRun(page, 0, 180000);
    assert.equal(await page.getAttribute('.badge', 'data-backend'), 'cpu', 'the first heatmap never waits for shaders');
    await page.waitForFunction(() => /ms here \(both models, median of 3\): using/.test(document.querySelector('.badge-note')?.textContent ?? ''), null, { timeout: 180000 });
    const note = await page.textContent('.badge-note');
    const backend = await page.getAttribute('.badge', 'data-backend');
    const [, first, firstMs, , secondMs] = note.match(/^(CPU|WebGPU) ([\d]+) ms, (CPU|WebGPU) ([\d]+) ms here/);
    assert.ok(Number(firstMs) <= Number(secondMs), `the faster is named first: ${note}`);
    assert.equal(backend, first === 'CPU' ? 'cpu' : 'webgpu', `the badge runs what the note chose: ${note}`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'webgpu.png'), fullPage: true });
  });
  await check('webgpu: routes the text exactly as the CPU does', async () => {
    if (await page.getAttribute('.badge', 'data-backend') !== 'webgpu') {
      const run = Number(await page.getAttribute('.grid', 'data-run'));
      await page.selectOption('#backend', 'webgpu');
      await nextRun(page, run, 180000);
    }
    assert.equal(await page.getAttribute('.badge', 'data-backend'), 'webgpu');
    await typeText(page, SAMPLE);
    assert.deepEqual(await routing(page), cpuRouting);
  });
  await check('webgpu: switching backends by hand keeps the text', async () => {
    const run = Number(await page.getAttribute('.grid', 'data-run'));
    await page.selectOption('#backend', 'cpu');
    await nextRun(page, run);
    assert.equal(await page.getAttribute('.badge', 'data-backend'), 'cpu');
    assert.equal(await page.$eval('#text', (t) => t.value), SAMPLE);
    assert.deepEqual(await routing(page), cpuRouting);
  });
  await check('webgpu: losing the GPU mid-session moves to the CPU, keeping text and settings', async () => {
    let run = Number(await page.getAttribute('.grid', 'data-run'));
    await page.selectOption('#backend', 'webgpu');
    run = await nextRun(page, run);
    assert.equal(await page.getAttribute('.badge', 'data-backend'), 'webgpu');
    await page.$eval('#capacity', (s) => { s.value = '0.5'; s.dispatchEvent(new Event('input', { bubbles: true })); });
    run = await nextRun(page, run);
    const atHalf = await routing(page);
    assert.ok(await page.evaluate(() => window.__gpuDevices.length > 0), 'the page created a GPU device');
    await page.evaluate(() => window.__gpuDevices.forEach((d) => d.destroy()));
    await page.fill('#text', `${SAMPLE} `);
    await page.waitForFunction(() => document.querySelector('.badge')?.dataset.backend === 'cpu', null, { timeout: 60000 });
    await nextRun(page, run);
    assert.match(await page.textContent('.badge-note'), /WebGPU/);
    assert.equal(await page.$eval('#text', (t) => t.value), `${SAMPLE} `);
    assert.equal(await page.$eval('#capacity', (s) => s.value), '0.5');
    const rows = await routing(page);
    assert.ok(rows.length > atHalf.length, 'the new text was routed');
    assert.equal(rows.filter((r) => r[1] === 'x').length, Math.ceil(0.5 * rows.length), 'still at 50% capacity');
    await page.screenshot({ path: path.join(ARTIFACTS, 'webgpu-lost.png'), fullPage: false });
  });
  await check('webgpu: backend=webgpu starts on WebGPU without timing it, and routes as the CPU does', async () => {
    const forced = await context.newPage();
    await forced.goto(`${server.url}/?backend=webgpu&text=${encodeURIComponent(SAMPLE)}`);
    await nextRun(forced, 0, 180000);
    assert.equal(await forced.getAttribute('.badge', 'data-backend'), 'webgpu');
    assert.match(await forced.textContent('.badge-note'), /WebGPU, as requested/);
    assert.deepEqual(await routing(forced), cpuRouting);
    await forced.close();
  });
  await check('webgpu: no console errors', async () => assert.deepEqual(problems.filter((p) => !/lost|destroyed|Device/i.test(p)), []));
  await context.close();
}

server.close();
console.log(`\n${results.length - failures()} passed, ${failures()} failed; screenshots in artifacts/`);
process.exit(failures() ? 1 : 0);
