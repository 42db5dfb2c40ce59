// <mod-demo>: modscope as a custom element. Each element renders into its own shadow root (styles
// do not leak in or out); every element on a page shares one wasm instance, one copy of the
// weights and one backend.
//
//   <script type="module" src="pkg/modscope-element.js"></script>
//   <mod-demo text="It is a truth…" capacity="0.25" mode="topk" panels="heatmap" theme="dark"></mod-demo>
//   <mod-demo chrome="none" text="…"><span slot="caption">Figure 1: …</span></mod-demo>   (a figure)
import init, { preload, mount_demo, update_demo } from './modscope.js';

const base = new URL('./', import.meta.url).href;
const ATTRIBUTES = ['text', 'capacity', 'mode', 'backend', 'panels', 'theme', 'readonly', 'autorun', 'height', 'chrome'];
let ready = null;

/** Starts the wasm module and fetches the weights, once for the whole page. */
function boot() {
  ready ??= init({ module_or_path: new URL('modscope_bg.wasm', base) }).then(() => preload(base));
  return ready;
}

class ModDemo extends HTMLElement {
  static get observedAttributes() { return ATTRIBUTES; }

  /** text, capacity, mode and theme apply live; the rest are read when the element connects. */
  attributeChangedCallback(name, old, value) {
    if (this.instance !== undefined && old !== value) update_demo(this.instance, name, value ?? undefined);
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
    try {
      await boot();
      mount.textContent = '';
      this.instance = mount_demo(mount, options, base, new URL('index.html', base).href);
    } catch (e) {
      mount.textContent = `modscope could not start: ${e}`;
    }
  }
}

if (!customElements.get('mod-demo')) customElements.define('mod-demo', ModDemo);
