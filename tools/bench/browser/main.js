// The browser benchmark page (driven by tools/bench/browser-bench.mjs): TIDE on the webgl backend against the
// same network as plain tfjs ops on the same backend, in the same page. The driver calls window.runBench(config)
// and reads back one result object per measurement.
import { initEngine, tf } from '@tide/backend';
import { attentionPath, integralAttention } from '@tide/attention';
import { field } from '@tide/domain';
import { forward, plainLayerStack } from '@tide/transformer';
import { benchEncoder, measureRun } from '../workload.mjs';

const log = (line) => {
  document.getElementById('log').textContent += `\n${line}`;
};

/** The WebGL renderer string (hardware GPU or a software rasteriser such as SwiftShader). */
window.rendererInfo = () => {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return { webgl2: false, renderer: 'none' };
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  return {
    webgl2: true,
    renderer: ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER),
    vendor: ext ? gl.getParameter(ext.UNMASKED_VENDOR_WEBGL) : gl.getParameter(gl.VENDOR),
  };
};

async function safely(label, body) {
  try {
    const r = await body();
    log(`${label}: ${r.median_s.toFixed(4)} s`);
    return { label, ...r };
  } catch (e) {
    log(`${label}: failed: ${e?.message ?? e}`);
    return {
      label,
      error: String(e?.message ?? e)
        .split('\n')[0]
        .slice(0, 160),
    };
  }
}

/** The renderer, and whether tfjs's webgl backend initialises on it (float32 render targets required). */
window.probe = async () => {
  const info = window.rendererInfo();
  try {
    await initEngine({ backend: 'webgl' });
    return { ...info, tfjs: 'ok' };
  } catch (e) {
    return { ...info, tfjs: String(e?.message ?? e).split('\n')[0] };
  }
};

/** Runs every workload of `config` ({ repeats, workloads: [{ name, kind, d, heads, layers, n, causal }] }). */
window.runBench = async (config) => {
  const engine = await initEngine({ backend: 'webgl' });
  tf.env().set('PROD', true);
  const results = [];
  for (const wl of config.workloads) {
    let seed = 1000;
    const owned = [];
    const w = (s, std) => {
      const t = tf.randomNormal(s, 0, std, 'float32', seed++);
      owned.push(t);
      return t;
    };
    const rows = [];
    if (wl.kind === 'attention') {
      const params = {
        wq: w([wl.d, wl.d], 0.1),
        wk: w([wl.d, wl.d], 0.1),
        wv: w([wl.d, wl.d], 0.1),
        wo: w([wl.d, wl.d], 0.1),
      };
      const u = field(w([1, wl.n, wl.d], 1));
      const opts = { heads: wl.heads, causal: wl.causal };
      for (const impl of wl.impls ?? ['fused', 'plain']) {
        rows.push(
          await safely(`${wl.name} ${impl}`, () =>
            measureRun(() => integralAttention(u, params, { ...opts, implementation: impl }).values, config.repeats),
          ),
        );
        rows.at(-1).impl = impl;
      }
    } else {
      const model = benchEncoder(wl, w);
      const x = w([1, wl.n, wl.d], 1);
      rows.push({
        impl: attentionPath({}, wl.n),
        ...(await safely(`${wl.name} TIDE`, () =>
          measureRun(() => forward(model, { input: x }).output, config.repeats),
        )),
      });
      rows.push({
        impl: 'plain tfjs',
        ...(await safely(`${wl.name} plain`, () =>
          measureRun(() => plainLayerStack(model, { input: x }), config.repeats),
        )),
      });
      model.dispose();
    }
    tf.dispose(owned);
    results.push({ workload: wl, rows });
  }
  return { engine: engine.backend, float32: engine.float32, renderer: window.rendererInfo(), results };
};
log('ready');
window.benchReady = true;
