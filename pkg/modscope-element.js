// <mod-demo>: modscope as a custom element. Each element renders into its own shadow root (styles
// do not leak in or out); every element on a page shares one wasm instance, one copy of the
// weights and one backend.
//
//   <script type="module" src="pkg/modscope-element.js"></script>
//   <mod-demo text="It is a truth…" capacity="0.25" mode="topk" panels="heatmap" theme="dark"></mod-demo>
//   <mod-demo chrome="none" text="…"><span slot="caption">Figure 1: …</span></mod-demo>   (a figure)
//
// An element starts (downloads the wasm and the weights, runs the models) when it comes within
// a screen of the viewport, so a post with a demo far down costs its readers nothing until they
// get there; loading="eager" starts it at once.
import { loadModscope } from './modscope-loader.js';

const base = new URL('./', import.meta.url).href;
const ATTRIBUTES = ['text', 'capacity', 'mode', 'backend', 'panels', 'theme', 'readonly', 'autorun', 'height', 'chrome', 'scale', 'heading', 'note'];
let ready = null;
/** Elements waiting for the download, told its bytes as they arrive. */
const waiting = new Set();
const megabytes = (n) => (n / 1e6).toFixed(1);

/** Starts the wasm module and fetches the weights, once for the whole page; resolves to the module. */
function boot(backend) {
  // One module for the page: the first element to start chooses the build (its `backend`).
  ready ??= loadModscope((received, expected) => waiting.forEach((tell) => tell(received, expected)), { backend }).then(async (modscope) => {
    await modscope.preload(base);
    return modscope;
  });
  return ready;
}

/** Resolves once `element` is within one viewport height of the visible area. */
function nearViewport(element) {
  if (!('IntersectionObserver' in window)) return Promise.resolve();
  return new Promise((resolve) => {
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) {
        observer.disconnect();
        resolve();
      }
    }, { rootMargin: '100% 0px' });
    observer.observe(element);
  });
}

class ModDemo extends HTMLElement {
  static get observedAttributes() { return ATTRIBUTES; }

  /** text, capacity, mode and theme apply live; the rest are read when the element connects. */
  attributeChangedCallback(name, old, value) {
    if (this.instance !== undefined && old !== value) this.modscope.update_demo(this.instance, name, value ?? undefined);
  }

  async connectedCallback() {
    if (this.shadowRoot) return;
    const root = this.attachShadow({ mode: 'open' });
    const style = document.createElement('link');
    style.rel = 'stylesheet';
    style.href = new URL('modscope.css', base).href;
    const mount = document.createElement('div');
    mount.textContent = 'Loading modscope…';
    root.append(style, mount);
    const options = {};
    for (const name of ATTRIBUTES) if (this.hasAttribute(name)) options[name] = this.getAttribute(name);
    if (this.getAttribute('loading') !== 'eager') await nearViewport(this);
    const tell = (received, expected) => { mount.textContent = `Loading modscope… ${megabytes(received)} of ${megabytes(expected)} MB`; };
    waiting.add(tell);
    try {
      this.modscope = await boot(options.backend);
      waiting.delete(tell);
      mount.textContent = '';
      this.instance = this.modscope.mount_demo(mount, options, base, new URL('index.html', base).href);
    } catch (e) {
      waiting.delete(tell);
      mount.textContent = `modscope could not start: ${e}`;
    }
  }
}

if (!customElements.get('mod-demo')) customElements.define('mod-demo', ModDemo);
