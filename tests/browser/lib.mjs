// Shared by the browser tests and the benchmark: a static server for dist/ (at / and under a
// sub-path) and Debian's Chromium, headless, with or without WebGPU.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.json': 'application/json', '.svg': 'image/svg+xml', '.safetensors': 'application/octet-stream' };

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** Serves `dir` at `/` and again under `/blog/post/`, recording every path asked for. */
export function serve(dir) {
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url);
    let url = decodeURIComponent(req.url.split('?')[0]);
    if (url.startsWith('/blog/post/')) url = url.slice('/blog/post'.length);
    if (url.endsWith('/')) url += 'index.html';
    const file = path.join(dir, path.normalize(url));
    if (!file.startsWith(dir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404); res.end('not found'); return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ url: `http://127.0.0.1:${server.address().port}`, requests, close: () => server.close() });
  }));
}

export async function launch({ webgpu }) {
  const userDataDir = fs.mkdtempSync('/tmp/modscope-chromium-');
  const args = ['--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args,
    viewport: { width: 1200, height: 1400 },
  });
  return context;
}

/** Opens a page that fails on console errors, page errors and requests leaving `origin`. */
export async function open(context, url, origin) {
  const page = context.pages()[0] ?? await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss(); });
  await page.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith(origin) || u.startsWith('data:') || u.startsWith('blob:')) return route.continue();
    problems.push(`request left the origin: ${u}`);
    return route.abort();
  });
  await page.goto(url);
  return { page, problems };
}

/** The words of the sample passage the benchmarks and traces type. */
export const SAMPLE_WORDS = 'It is a truth universally acknowledged that a single man in possession of a good fortune must be in want of a wife'.split(' ');

/**
 * About `tokens` tokens of the sample passage (1.37 tokens a word in the model's vocabulary):
 * texts of exactly n tokens are hard to type, and the page reports the count it got.
 */
export const passageOf = (tokens) => Array.from({ length: Math.round(tokens / 1.37) }, (_, i) => SAMPLE_WORDS[i % SAMPLE_WORDS.length]).join(' ');

/**
 * Waits until the page has drawn a heatmap newer than `after` and finished its run (the dense
 * twin's comparison too), and returns the heatmap's number.
 */
export async function nextRun(page, after = 0, timeout = 60000) {
  await page.waitForFunction((n) => Number(document.querySelector('.grid[data-run]')?.dataset.run ?? 0) > n
    && !['running', 'comparing'].includes(document.querySelector('.status')?.dataset.status), after, { timeout });
  return Number(await page.getAttribute('.grid[data-run]', 'data-run'));
}

/**
 * The heatmap as text: one string per token, one letter per layer (d dense, x processed, . skipped).
 * `tokens` selects the heatmap's token columns (the page's own by default).
 */
export function routing(page, tokens = '#heatmap .tok') {
  return page.$$eval(tokens, (toks) => toks.map((t) => [...t.querySelectorAll('.cell')]
    .map((c) => c.classList.contains('dense') ? 'd' : c.classList.contains('on') ? 'x' : '.').join('')));
}

/** The layers whose every cell is routed (none dense), read from `routing`'s rows. */
export const routedLayers = (rows) => [...rows[0]].map((_, l) => l).filter((l) => rows.every((r) => r[l] !== 'd'));

/** Replaces the text as typing would (an input event), and waits for the new heatmap. */
export async function typeText(page, text) {
  const before = await page.evaluate(() => Number(document.querySelector('.grid[data-run]')?.dataset.run ?? 0));
  await page.fill('#text', text);
  return nextRun(page, before);
}

/** The native CLI's routing of `text` (top-k at the shipped capacity) in the same letters as
 * `routing`: an independent reference for what any browser draws. */
export function cliRouting(text) {
  const out = execFileSync('cargo', ['run', '--quiet', '--features', 'train', '--bin', 'modscope', '--', '--json', 'route', '--text', text],
    { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
  const { trace } = JSON.parse(out);
  return Array.from({ length: trace.tokens }, (_, i) => trace.layers
    .map((l) => !l.routed ? 'd' : l.processed[i] ? 'x' : '.').join(''));
}

/** Rejects with `what` when `promise` has not settled within `ms`. */
export function withDeadline(promise, ms, what) {
  // Once the deadline has won, a late rejection of the abandoned promise must not crash node.
  promise.catch(() => {});
  let timer;
  const deadline = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms); });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Polls `condition` (an async function) until it is truthy; throws naming `what` after `ms`. */
export async function waitUntil(condition, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Named checks, each printed as `ok` (with its time) or `FAIL` (with why) when it ends;
 * `failures()` counts the failed ones for the exit status. A check that runs past its limit
 * (`limitMs`, per call or for all) fails with its name, so a hung page cannot hold the run.
 * `quiet` keeps the results out of the log (for checks of the harness itself). */
export function checks(prefix = '', { limitMs = 300000, quiet = false } = {}) {
  const results = [];
  async function check(name, fn, limit = limitMs) {
    const started = Date.now();
    try {
      await withDeadline(fn(), limit, `check "${prefix}${name}" ran past its limit`);
      results.push(`ok   ${prefix}${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (e) {
      results.push(`FAIL ${prefix}${name}: ${e.message}`);
    }
    if (!quiet) console.log(results[results.length - 1]);
  }
  const failures = () => results.filter((r) => r.startsWith('FAIL')).length;
  return { check, results, failures };
}
