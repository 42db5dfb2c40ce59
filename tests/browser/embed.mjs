// The embeddable bundle (pkg/) in a sample blog post served from a sub-path (/blog/post/):
// two <mod-demo> elements with their own settings, an iframe, share links, exports, isolation
// from the host page, and no request off the origin.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, serve, launch, open, checks, routing, waitUntil } from './lib.mjs';

const server = await serve(ROOT);
const { check, results, failures } = checks();

const context = await launch({ webgpu: false });
const { page, problems } = await open(context, `${server.url}/blog/post/www/embed.html`, server.url);
const tokens = (host) => page.locator(`${host} .grid .tok`);
const rowsOf = (host) => routing(page, `${host} >> css=.grid .tok`);
/** The file names requested from the server since its log was last cleared. */
const fetched = () => server.requests.map((r) => r.split('?')[0].split('/').pop());

await check('an element far below the fold starts only when the reader scrolls near it', async () => {
  // A laptop-sized window of its own: "far" is measured in screens.
  const post = await context.newPage();
  await post.setViewportSize({ width: 1200, height: 700 });
  await post.goto(`${server.url}/blog/post/www/embed.html`);
  await post.locator('#demo-heatmap .grid .tok').first().waitFor({ timeout: 120000 });
  const far = await post.locator('#demo-figure').evaluate((el) => el.getBoundingClientRect().top / innerHeight);
  assert.ok(far > 3, `the figure is only ${far.toFixed(1)} screens down: move it further in embed.html`);
  // A negative check needs a window of time: the far element must not start during it.
  await post.waitForTimeout(1000);
  assert.equal(await post.locator('#demo-figure .grid .tok').count(), 0, 'the far element started before it was scrolled to');
  await post.locator('#demo-figure').scrollIntoViewIfNeeded();
  await post.locator('#demo-figure .grid .tok').first().waitFor({ timeout: 60000 });
  await post.close();
});

await check('both elements render heatmaps with their own settings', async () => {
  await tokens('#demo-heatmap').first().waitFor({ timeout: 120000 });
  await page.locator('#demo-flops').scrollIntoViewIfNeeded();
  await tokens('#demo-flops').first().waitFor({ timeout: 120000 });
  const a = await rowsOf('#demo-heatmap');
  const b = await rowsOf('#demo-flops');
  assert.equal(a.filter((r) => r[1] === 'x').length, Math.ceil(0.125 * a.length));
  assert.equal(b.filter((r) => r[1] === 'x').length, Math.ceil(0.5 * b.length));
  assert.equal(await page.locator('#demo-heatmap #flops-total').count(), 0, 'heatmap-only panels');
  assert.equal(await page.locator('#demo-flops #flops-total').count(), 1);
  assert.equal(await page.locator('#demo-flops #gen-title').count(), 0);
  // A read-only heatmap embed is the grid: no text box, badge or page buttons.
  assert.equal(await page.locator('#demo-heatmap >> css=textarea, .badge, .theme, .share, .embed-code').count(), 0);
  assert.equal(await page.locator('#demo-flops .modscope').getAttribute('data-theme'), 'dark');
  await page.screenshot({ path: path.join(ROOT, 'artifacts', 'embed.png'), fullPage: true });
});

await check('a figure embed (chrome="none") is the heatmap, its key and the host\'s caption, nothing else', async () => {
  await tokens('#demo-figure').first().waitFor({ timeout: 120000 });
  assert.equal(await page.locator('#demo-figure >> css=button, textarea, select, input').count(), 0, 'no controls');
  assert.ok(await page.locator('#demo-figure >> css=.legend').isVisible());
  assert.match(await page.locator('#demo-figure [slot=caption]').textContent(), /^Figure 1\./);
  const fit = await page.locator('#demo-figure').evaluate((host) => {
    const f = host.shadowRoot.querySelector('figure');
    const grid = f.querySelector('.grid');
    return { host: host.getBoundingClientRect().height, figure: f.getBoundingClientRect().height, overflow: grid.scrollHeight - grid.clientHeight };
  });
  assert.ok(fit.overflow <= 1, `the grid scrolls by ${fit.overflow}px`);
  assert.ok(fit.host <= fit.figure + 24, `element ${fit.host}px around a ${fit.figure}px figure`);
  await page.locator('#demo-figure').screenshot({ path: path.join(ROOT, 'artifacts', 'embed-figure.png') });
});

await check('text and capacity attributes set by the host page apply live', async () => {
  const before = await rowsOf('#demo-figure');
  await page.evaluate(() => {
    const el = document.querySelector('#demo-figure');
    el.setAttribute('text', 'Captain Wentworth had no fortune. He had been lucky in his profession.');
    el.setAttribute('capacity', '0.5');
  });
  await page.waitForFunction(() => {
    const toks = document.querySelector('#demo-figure').shadowRoot.querySelectorAll('.grid .tok-text');
    return [...toks].map((t) => t.textContent).join('').startsWith('Captain');
  }, null, { timeout: 60000 });
  await page.waitForFunction(() => {
    const root = document.querySelector('#demo-figure').shadowRoot;
    const toks = [...root.querySelectorAll('.grid .tok')];
    return toks.length > 0 && toks.filter((t) => t.querySelectorAll('.cell')[1].classList.contains('on')).length === Math.ceil(toks.length / 2);
  }, null, { timeout: 60000 });
  assert.notDeepEqual(await rowsOf('#demo-figure'), before);
});

await check('the iframe renders the full page from its URL', async () => {
  const frame = page.frameLocator('#demo-frame');
  await frame.locator('.grid .tok').first().waitFor({ timeout: 120000 });
  assert.equal(await frame.locator('#text').inputValue(), 'Anne had been a very pretty girl');
  assert.ok(await frame.locator('#mode-causal').isChecked());
});

await check("the iframe's grid starts within its top 300 px", async () => {
  const frame = await page.locator('#demo-frame').boundingBox();
  const grid = await page.frameLocator('#demo-frame').locator('#heatmap .grid').boundingBox();
  assert.ok(grid.y - frame.y <= 300, `the grid starts ${(grid.y - frame.y).toFixed(0)} px into the iframe`);
});

await check("the README's element snippet, on another origin whose server sends no CORS header, says so in place", async () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const snippet = readme.match(/<script type="module" src="pkg\/modscope-element\.js"[\s\S]*?<\/script>/)[0];
  // Same server, another origin: the browser asks it for a CORS header it does not send.
  const other = server.url.replace('127.0.0.1', 'localhost');
  const host = await context.newPage();
  await host.route(`${server.url}/host.html`, (route) => route.fulfill({ contentType: 'text/html',
    body: `<!doctype html><title>a course page</title>${snippet.replace('pkg/', `${other}/blog/post/pkg/`)}<mod-demo text="Emma"></mod-demo>` }));
  await host.goto(`${server.url}/host.html`);
  const said = () => host.locator('mod-demo').textContent();
  await waitUntil(async () => /could not load/.test(await said()), 20000, 'a message in place of the element');
  assert.match(await said(), /Access-Control-Allow-Origin/);
  assert.match(await said(), new RegExp(`${other.replace(/[.:/]/g, '\\$&')}/blog/post/pkg/modscope-element\\.js`));
  await host.close();
});

await check("the host page's styles and scripts are untouched", async () => {
  assert.equal(await page.evaluate(() => window.hostScriptRan), true);
  const note = await page.$eval('#host-note', (n) => [getComputedStyle(n).fontSize, getComputedStyle(n).color]);
  assert.deepEqual(note, ['20px', 'rgb(128, 0, 0)']);
  // The host hides `.grid` and paints buttons pink: neither reaches inside the shadow roots.
  assert.ok(await page.locator('#demo-heatmap .grid').isVisible());
  const button = await page.locator('#demo-flops #time-it').evaluate((b) => getComputedStyle(b).backgroundColor);
  assert.notEqual(button, 'rgb(255, 105, 180)');
});

await check('the SVG export is valid SVG that holds every token', async () => {
  const download = page.waitForEvent('download');
  await page.locator('#demo-heatmap .export-svg').click();
  const file = await (await download).path();
  const svg = fs.readFileSync(file, 'utf8');
  const shown = await page.$$eval('#demo-heatmap >> css=.grid .tok-text', (t) => t.map((e) => e.textContent));
  const parsed = await page.evaluate((s) => {
    const doc = new DOMParser().parseFromString(s, 'image/svg+xml');
    return { error: doc.querySelector('parsererror')?.textContent ?? null, root: doc.documentElement.nodeName,
      texts: [...doc.querySelectorAll('text')].map((t) => t.textContent) };
  }, svg);
  assert.equal(parsed.error, null);
  assert.equal(parsed.root, 'svg');
  for (const t of shown) assert.ok(parsed.texts.includes(t), `token ${t} missing from the SVG`);
});

await check('the CSV export lists every layer', async () => {
  const download = page.waitForEvent('download');
  await page.locator('#demo-flops .export-csv').click();
  const csv = fs.readFileSync(await (await download).path(), 'utf8').trim().split('\n');
  assert.equal(csv.length, 1 + 8 + 2);
  assert.match(csv[0], /^layer,block,tokens_processed/);
});

await check('a share link round-trips text and settings', async () => {
  // Share lives on the full page (an embed of one or two panels carries no page buttons).
  const text = 'Tricky: a&b=c?d#e%f +g 🙂 שלום "quoted" <tag>';
  const full = await context.newPage();
  await full.goto(`${server.url}/blog/post/pkg/index.html?capacity=0.5&theme=dark`);
  await full.locator('#heatmap .tok').first().waitFor({ timeout: 120000 });
  await full.locator('#text').fill(text);
  await full.locator('.share').click();
  const link = await full.locator('.share-link').inputValue();
  await full.close();
  assert.ok(link.startsWith(`${server.url}/blog/post/pkg/index.html?`), link);
  const other = await context.newPage();
  await other.goto(link);
  await other.locator('.grid .tok').first().waitFor({ timeout: 120000 });
  assert.equal(await other.locator('#text').inputValue(), text);
  assert.match(await other.locator('#capacity-value').textContent(), /50\.0%/);
  assert.equal(await other.locator('.modscope').getAttribute('data-theme'), 'dark');
  await other.close();
});

await check('works offline once loaded', async () => {
  await context.setOffline(true);
  const before = await rowsOf('#demo-flops');
  await page.locator('#demo-flops textarea').fill('Offline now, and still routing every token.');
  await waitUntil(async () => JSON.stringify(await rowsOf('#demo-flops')) !== JSON.stringify(before), 30000, 'a new heatmap offline');
  await context.setOffline(false);
});

await check('no console errors and no request off the origin', async () => {
  assert.deepEqual(problems, []);
  // The browser's own favicon probe is the only request outside the post's folder.
  const outside = server.requests.filter((r) => !r.startsWith('/blog/post/') && r !== '/favicon.ico');
  assert.deepEqual(outside, [], 'everything came from the sub-path');
});

await check('without a WebGPU adapter the loader fetched the relaxed-SIMD CPU build and the 8-bit weights, nothing else', async () => {
  const files = fetched();
  assert.ok(files.includes('modscope_cpu_relaxed_bg.wasm'), files.join(' '));
  assert.ok(!files.includes('modscope_bg.wasm') && !files.includes('modscope_cpu_bg.wasm'), `another build was fetched too: ${files.join(' ')}`);
  assert.deepEqual([...new Set(files.filter((f) => f.endsWith('.safetensors')))].sort(), ['dense.q8.safetensors', 'mod.q8.safetensors']);
});

const sample = `${server.url}/blog/post/pkg/index.html?text=${encodeURIComponent('It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.')}`;

await check('where relaxed SIMD is missing the loader falls back to the plain CPU build, which routes the same', async () => {
  const relaxed = await context.newPage();
  await relaxed.goto(sample);
  await relaxed.locator('#heatmap .tok').first().waitFor({ timeout: 120000 });
  const expected = await routing(relaxed);
  assert.equal(await relaxed.textContent('.badge-name'), 'CPU (burn Flex, relaxed SIMD)', 'the badge names the build that loaded');
  await relaxed.close();
  // Chromium and Firefox both have relaxed SIMD; Safari does not. This browser is made to refuse
  // it the way such a browser would: every module holding a relaxed-SIMD opcode fails validation.
  const plain = await launch({ webgpu: false });
  await plain.addInitScript(() => {
    const validate = WebAssembly.validate;
    WebAssembly.validate = (bytes, ...rest) => {
      const b = new Uint8Array(bytes.buffer ?? bytes);
      for (let i = 0; i + 2 < b.length; i++) if (b[i] === 0xfd && b[i + 1] >= 0x80 && b[i + 1] <= 0x93 && b[i + 2] === 2) return false;
      return validate(bytes, ...rest);
    };
  });
  server.requests.length = 0;
  const { page: fallback, problems: fallbackProblems } = await open(plain, sample, server.url);
  await fallback.locator('#heatmap .tok').first().waitFor({ timeout: 120000 });
  const files = fetched();
  assert.ok(files.includes('modscope_cpu_bg.wasm') && !files.includes('modscope_cpu_relaxed_bg.wasm'), files.join(' '));
  assert.deepEqual(await routing(fallback), expected, 'the plain and the fused kernels route differently');
  assert.equal(await fallback.textContent('.badge-name'), 'CPU (burn Flex, SIMD128)');
  assert.deepEqual(fallbackProblems, []);
  await plain.close();
});

await check("the full page's first screen draws text only in font sizes the loader warmed up while downloading", async () => {
  const full = await context.newPage();
  await full.setViewportSize({ width: 1200, height: 1400 });
  await full.goto(`${server.url}/blog/post/pkg/index.html`);
  await full.locator('#heatmap .tok').first().waitFor({ timeout: 120000 });
  const missing = await full.evaluate(async () => {
    const { FONT_STRIKES } = await import('./modscope-loader.js');
    const warmed = FONT_STRIKES.map(([family, size, weight, style = 'normal']) => ({ family, size: parseFloat(size), weight: String(weight), style }));
    const missing = new Set();
    for (const el of document.querySelectorAll('body *')) {
      const hasText = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
      const box = el.getBoundingClientRect();
      if (!hasText || box.height === 0 || box.top > innerHeight || getComputedStyle(el).visibility === 'hidden') continue;
      const c = getComputedStyle(el);
      // SVG text is drawn at its font size times the drawing's scale.
      const size = parseFloat(c.fontSize) * (el instanceof SVGElement ? el.getScreenCTM()?.a ?? 1 : 1);
      const strike = { family: c.fontFamily, size, weight: c.fontWeight, style: c.fontStyle };
      if (!warmed.some((w) => w.family === strike.family && Math.abs(w.size - size) < 0.01 && w.weight === strike.weight && w.style === strike.style)) {
        missing.add(`${strike.style} ${strike.weight} ${size.toFixed(5)}px ${strike.family} (${el.tagName.toLowerCase()}.${el.getAttribute('class') ?? ''})`);
      }
    }
    return [...missing];
  });
  await full.close();
  assert.deepEqual(missing, [], 'add these to FONT_STRIKES in www/modscope-loader.js');
});

await context.close();

await check('with a software WebGPU adapter the loader keeps the CPU build and says why; backend=webgpu loads the WebGPU build', async () => {
  const gpu = await launch({ webgpu: true });
  server.requests.length = 0;
  // SwiftShader is a software adapter: never faster than the CPU build, so the WebGPU build is not downloaded.
  const { page: soft, problems: softProblems } = await open(gpu, `${server.url}/blog/post/pkg/index.html?text=Anne%20had%20been`, server.url);
  await soft.waitForSelector('.badge[data-backend=cpu]', { timeout: 120000 });
  await soft.locator('#heatmap .tok').first().waitFor({ timeout: 120000 });
  assert.ok(!fetched().includes('modscope_bg.wasm'), fetched().join(' '));
  assert.match(await soft.textContent('.badge-note'), /CPU-only build loaded .*software/);
  assert.deepEqual(softProblems, []);
  await soft.close();
  server.requests.length = 0;
  const { page: full, problems: gpuProblems } = await open(gpu, `${server.url}/blog/post/pkg/index.html?text=Anne%20had%20been&backend=webgpu`, server.url);
  await full.waitForSelector('.badge[data-backend=webgpu]', { timeout: 120000 });
  const files = fetched();
  assert.ok(files.includes('modscope_bg.wasm') && !files.some((f) => f.startsWith('modscope_cpu')), files.join(' '));
  assert.match(await full.textContent('.badge-note'), /WebGPU, as requested/);
  assert.deepEqual(gpuProblems, []);
  await gpu.close();
});

server.close();
console.log(`\n${results.length - failures()} passed, ${failures()} failed`);
process.exit(failures() ? 1 : 0);
