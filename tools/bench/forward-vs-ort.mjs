#!/usr/bin/env node
// `tide forward` against ONNX Runtime for Node and PyTorch, as whole processes (start-up, loading and one forward
// pass; each a fresh process), measured alternately in one run and reported as ratios (TIDE / peer; below 1 TIDE
// is faster). Every implementation computes the same function from the same weights, checked to 1e-4:
//
//   TIDE     node packages/cli/bin/tide.mjs forward --model DIR --input in.safetensors --output out.safetensors
//   ORT      node tools/bench/ort-peer.mjs (onnxruntime-node, CPU provider, 1 and 2 intra-op threads) on the ONNX
//            export of the same network (tools/bench/export_onnx.py)
//   PyTorch  /usr/bin/python3 tools/bench/tide_torch.py forward (nn.TransformerEncoder, 1 thread)
//
// The network is the bench encoder (tools/bench/workload.mjs: pre-LN, causal, GELU, final norm, random weights
// std 0.02 drawn by tfjs with seeds 1, 2, …, the input N(0, 1) after them), written as a PyTorch-encoder
// checkpoint folder. TIDE's output is the reference: PyTorch must match it to 1e-4 before the export, and each
// peer's output is checked against it in the untimed warm-up round.
//
// Shapes: d384 (d 384, 6 heads, 6 layers, 256 tokens) and gpt2-small (d 768, 12 heads, 12 layers, 256 tokens);
// --smoke: tiny shapes to prove the script works (its numbers mean nothing).
// Also a kernel count per layer: tfjs kernels TIDE launches for one forward (tf.profile → kernels) against nodes of
// the exported ONNX graph and of ORT's optimised graph (optimizedModelFilePath), each per layer as the difference
// between the L-layer network and the same network cut to 1 layer.
//
// Needs the built packages (npm run build). usage:
//   node tools/bench/forward-vs-ort.mjs [--repeats 5] [--shapes d384,gpt2-small] [--smoke] [--json FILE] [--keep]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initEngine, tf } from '@tide/backend';
import { forward, transformerModel } from '@tide/transformer';
import { saveCheckpoint } from '@tide/transformer/node';
import { benchEncoder } from './workload.mjs';
import {
  PYTHON,
  cliUnavailable,
  fail,
  here,
  lastJson,
  machineLine,
  markdownTable,
  maxAbsDiff,
  median,
  onnxNodeCounts,
  ortUnavailable,
  parseArgs,
  ratio,
  readSafetensors,
  root,
  seconds,
  timed,
  torchUnavailable,
  whyFailed,
  writeJson,
  writeSafetensors,
  runChildMode,
} from './peers-common.mjs';

const SCRIPT = 'forward-vs-ort';
const SHAPES = {
  d384: { d: 384, heads: 6, layers: 6, n: 256 },
  'gpt2-small': { d: 768, heads: 12, layers: 12, n: 256 },
  'smoke-a': { d: 64, heads: 2, layers: 2, n: 32 },
  'smoke-b': { d: 96, heads: 4, layers: 3, n: 48 },
};
const TOLERANCE = 1e-4;

// ---------------------------------------------------------------------------------------------------------------
// Child: writes the checkpoint folder and the input, and counts TIDE's kernels. One JSON line on stdout.
async function prepare({ shape, dir }) {
  const engine = await initEngine({ backend: 'wasm', gradients: false });
  tf.env().set('PROD', true);
  let seed = 1;
  const w = (s, std) => tf.randomNormal(s, 0, std, 'float32', seed++); // as bench.mjs
  const model = benchEncoder(shape, w);
  const x = w([1, shape.n, shape.d], 1);
  saveCheckpoint(model, join(dir, 'model'));
  writeSafetensors(join(dir, 'input.safetensors'), {
    input: { dtype: 'F32', shape: x.shape, data: x.dataSync() },
  });
  // The same network cut to its first layer (the tensors are shared: not disposed through it).
  const one = transformerModel(
    { ...model.config, numLayers: 1 },
    { layers: [model.parameters.layers[0]], finalNorm: model.parameters.finalNorm },
    'bench, first layer',
  );
  const count = async (m) => {
    const profile = await tf.profile(() => forward(m, { input: x }).output);
    profile.result.dispose();
    const names = {};
    for (const k of profile.kernels) names[k.name] = (names[k.name] ?? 0) + 1;
    return { total: profile.kernels.length, names };
  };
  forward(model, { input: x }).output.dispose(); // warm-up (first-call set-up is not a kernel, but keep it out)
  const all = await count(model);
  const first = await count(one);
  model.dispose();
  x.dispose();
  return { backend: engine.backend, kernels: all, kernels1: first };
}

await runChildMode({ prepare });

// ---------------------------------------------------------------------------------------------------------------
// Parent.
const USAGE =
  'node tools/bench/forward-vs-ort.mjs [--repeats 5] [--shapes d384,gpt2-small] [--smoke] [--json FILE] [--keep]';
const o = parseArgs(
  SCRIPT,
  process.argv.slice(2),
  { repeats: 5, shapes: '', smoke: false, json: '', keep: false },
  USAGE,
);
if (!(Number.isInteger(o.repeats) && o.repeats >= 1)) fail(SCRIPT, '--repeats: expected an integer ≥ 1', 2);
const names = (o.shapes || (o.smoke ? 'smoke-a,smoke-b' : 'd384,gpt2-small')).split(',');
for (const n of names)
  if (!(n in SHAPES)) fail(SCRIPT, `--shapes: unknown "${n}" (${Object.keys(SHAPES).join(', ')})`, 2);
for (const why of [cliUnavailable(), torchUnavailable(), ortUnavailable()]) if (why) fail(SCRIPT, why);
const jsonPath = o.json || join(root, 'reports', 'bench', `forward-vs-ort${o.smoke ? '.smoke' : ''}.json`);

const CLI = join(root, 'packages', 'cli', 'bin', 'tide.mjs');
const ORT = join(here, 'ort-peer.mjs');
const TORCH = join(here, 'tide_torch.py');

/** Per layer: (count of the L-layer network − count of its first layer) / (L − 1); outside = the rest. */
function perLayer(total, one, L) {
  const layer = L > 1 ? (total - one) / (L - 1) : one;
  return { layer, outside: total - L * layer };
}
const perLayerOps = (ops, ops1, L) =>
  Object.fromEntries(
    Object.keys({ ...ops, ...ops1 })
      .map((k) => [k, L > 1 ? ((ops[k] ?? 0) - (ops1[k] ?? 0)) / (L - 1) : (ops[k] ?? 0)])
      .filter(([, v]) => v !== 0)
      .sort((a, b) => b[1] - a[1]),
  );
const withoutConstants = (c) => c.total - (c.ops.Constant ?? 0) - (c.ops.Identity ?? 0);

function runShape(name) {
  const shape = SHAPES[name];
  const dir = mkdtempSync(join(tmpdir(), `tide-ort-${name}-`));
  try {
    const p = timed(process.execPath, [
      join(here, 'forward-vs-ort.mjs'),
      '--child',
      'prepare',
      JSON.stringify({ shape, dir }),
    ]);
    const prep = lastJson(p, `${name}: writing the checkpoint (TIDE)`);
    const file = (f) => join(dir, f);
    // Every implementation reads the same model and input and writes its output: `--model M --input I --output O`.
    const io = (model, out) => ['--model', file(model), '--input', file('input.safetensors'), '--output', out];
    // TIDE's CLI, on one thread and with `--threads 2` (XNNPACK threads of the wasm backend).
    const tideImpl = (threads) => ({
      key: threads === 1 ? 'tide' : `tide${threads}`,
      label: `TIDE tide forward${threads === 1 ? '' : ` --threads ${threads}`} (${prep.backend})`,
      cmd: process.execPath,
      args: (out) => [CLI, 'forward', ...io('model', out), ...(threads === 1 ? [] : ['--threads', String(threads)])],
      inProcess: (r) => Number(/\((\d+) ms/.exec(r.stdout)?.[1]) / 1000,
    });
    const impls = [
      tideImpl(1),
      tideImpl(2),
      ...[1, 2].map((t) => ({
        key: `ort${t}`,
        label: `ONNX Runtime ${t} thread${t > 1 ? 's' : ''}`,
        cmd: process.execPath,
        args: (out) => [ORT, ...io('model.onnx', out), '--threads', String(t), '--warmup', '0', '--repeats', '0'],
        inProcess: (r) => lastJson(r, 'ort').first_run_s,
      })),
      {
        key: 'torch1',
        label: 'PyTorch 1 thread',
        cmd: PYTHON,
        args: (out) => [TORCH, 'forward', ...io('model', out), '--threads', '1'],
        inProcess: (r) => lastJson(r, 'pytorch').run_s,
      },
    ];
    // Untimed warm-up round: TIDE's output is the reference; PyTorch checked against it, then exported.
    const tideOut = file('out-tide.safetensors');
    const first = timed(impls[0].cmd, impls[0].args(tideOut));
    if (first.status !== 0) throw new Error(`${name}: tide forward failed: ${whyFailed(first)}`);
    const ex = timed(PYTHON, [
      join(here, 'export_onnx.py'),
      '--model',
      file('model'),
      '--input',
      file('input.safetensors'),
      '--expected',
      tideOut,
      '--onnx',
      file('model.onnx'),
      '--onnx-1layer',
      file('model-1layer.onnx'),
      '--tolerance',
      String(TOLERANCE),
    ]);
    const exported = lastJson(ex, `${name}: export_onnx.py`);
    for (const m of ['model', 'model-1layer']) {
      const r = timed(process.execPath, [
        ORT,
        '--model',
        file(`${m}.onnx`),
        '--optimized-model',
        file(`${m}.opt.onnx`),
        '--load-only',
      ]);
      lastJson(r, `${name}: ORT optimising ${m}.onnx`);
    }
    const reference = readSafetensors(tideOut).get('output').data;
    const agreement = { 'pytorch (export check)': exported.max_abs_diff };
    for (const impl of impls.slice(1)) {
      const out = file(`out-${impl.key}.safetensors`);
      const r = timed(impl.cmd, impl.args(out));
      if (r.status !== 0) throw new Error(`${name}: ${impl.label} failed: ${whyFailed(r)}`);
      const diff = maxAbsDiff(readSafetensors(out).get('output').data, reference);
      agreement[impl.key] = diff;
      if (!(diff <= TOLERANCE))
        throw new Error(
          `${name}: ${impl.label} disagrees with TIDE: max |Δ| = ${diff.toExponential(2)} > ${TOLERANCE}`,
        );
    }
    // Timed rounds, alternating; the order rotates every round.
    const runs = Object.fromEntries(impls.map((i) => [i.key, { wall: [], inProcess: [] }]));
    for (let round = 0; round < o.repeats; round++) {
      for (let j = 0; j < impls.length; j++) {
        const impl = impls[(round + j) % impls.length];
        const r = timed(impl.cmd, impl.args(file(`out-${impl.key}.safetensors`)));
        if (r.status !== 0) throw new Error(`${name}: ${impl.label} failed: ${whyFailed(r)}`);
        runs[impl.key].wall.push(r.wall_s);
        runs[impl.key].inProcess.push(impl.inProcess(r));
      }
    }
    const med = Object.fromEntries(
      impls.map((i) => [i.key, { wall_s: median(runs[i.key].wall), in_process_s: median(runs[i.key].inProcess) }]),
    );
    const L = shape.layers;
    const onnx = onnxNodeCounts(file('model.onnx'));
    const onnx1 = onnxNodeCounts(file('model-1layer.onnx'));
    const opt = onnxNodeCounts(file('model.opt.onnx'));
    const opt1 = onnxNodeCounts(file('model-1layer.opt.onnx'));
    const kernels = {
      tide: { ...perLayer(prep.kernels.total, prep.kernels1.total, L), total: prep.kernels.total },
      onnx: { ...perLayer(onnx.total, onnx1.total, L), total: onnx.total },
      onnx_compute: {
        ...perLayer(withoutConstants(onnx), withoutConstants(onnx1), L),
        total: withoutConstants(onnx),
      },
      ort_optimised: { ...perLayer(opt.total, opt1.total, L), total: opt.total },
      tide_per_layer_by_kernel: perLayerOps(prep.kernels.names, prep.kernels1.names, L),
      ort_per_layer_by_op: perLayerOps(opt.ops, opt1.ops, L),
    };
    return { name, shape, backend: prep.backend, medians: med, runs, agreement, kernels, labels: impls };
  } finally {
    if (o.keep) console.log(`${name}: kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`forward-vs-ort — ${machineLine()}`);
console.log(
  `whole processes (start-up + load + one forward + write), median of ${o.repeats}, alternating; ratios TIDE / peer${o.smoke ? ' — SMOKE RUN: tiny shapes, the numbers mean nothing' : ''}\n`,
);
const results = [];
for (const name of names) {
  try {
    results.push(runShape(name));
  } catch (e) {
    fail(SCRIPT, String(e?.message ?? e).split('\n')[0]);
  }
}
const what = (s) => `d ${s.d}, ${s.heads} heads, ${s.layers} layers, ${s.n} tokens`;
const rows = results.map((r) => {
  const m = r.medians;
  const ortBest = Math.min(m.ort1.wall_s, m.ort2.wall_s);
  return [
    `${r.name} (${what(r.shape)})`,
    ratio(m.tide.wall_s, ortBest),
    ratio(m.tide2.wall_s, ortBest),
    ratio(m.tide.wall_s, m.ort1.wall_s),
    ratio(m.tide.wall_s, m.torch1.wall_s),
    seconds(m.tide.wall_s),
    seconds(m.tide2.wall_s),
    seconds(m.ort1.wall_s),
    seconds(m.ort2.wall_s),
    seconds(m.torch1.wall_s),
  ];
});
console.log(
  markdownTable(
    [
      'shape',
      'TIDE / ORT best',
      'TIDE 2 threads / ORT best',
      'TIDE / ORT 1 thread',
      'TIDE / PyTorch 1 thread',
      'TIDE',
      'TIDE 2 threads',
      'ORT 1 thread',
      'ORT 2 threads',
      'PyTorch 1 thread',
    ],
    rows,
  ),
);
console.log('\nthe forward pass alone, inside those processes (first run in a fresh process; medians):');
console.log(
  markdownTable(
    [
      'shape',
      'TIDE / ORT 1 thread',
      'TIDE / PyTorch 1 thread',
      'TIDE',
      'ORT 1 thread',
      'ORT 2 threads',
      'PyTorch 1 thread',
    ],
    results.map((r) => {
      const m = r.medians;
      return [
        r.name,
        ratio(m.tide.in_process_s, m.ort1.in_process_s),
        ratio(m.tide.in_process_s, m.torch1.in_process_s),
        seconds(m.tide.in_process_s),
        seconds(m.ort1.in_process_s),
        seconds(m.ort2.in_process_s),
        seconds(m.torch1.in_process_s),
      ];
    }),
  ),
);
console.log('\nkernels per layer (L-layer network − its first layer alone, / (L − 1)); "outside": the rest');
const fmt = (k) => `${Number.isInteger(k.layer) ? k.layer : k.layer.toFixed(1)} (+${Math.round(k.outside)})`;
console.log(
  markdownTable(
    [
      'shape',
      'TIDE tfjs kernels',
      'ONNX export nodes',
      'ONNX export, no Constant/Identity',
      'ORT optimised nodes',
      'TIDE / ORT optimised',
    ],
    results.map((r) => [
      r.name,
      fmt(r.kernels.tide),
      fmt(r.kernels.onnx),
      fmt(r.kernels.onnx_compute),
      fmt(r.kernels.ort_optimised),
      ratio(r.kernels.tide.layer, r.kernels.ort_optimised.layer),
    ]),
  ),
);
const top = (ops) =>
  Object.entries(ops)
    .slice(0, 12)
    .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(1)}`)
    .join(', ');
for (const r of results) {
  console.log(`${r.name}: TIDE per layer: ${top(r.kernels.tide_per_layer_by_kernel)}`);
  console.log(`${r.name}: ORT per layer:  ${top(r.kernels.ort_per_layer_by_op)}`);
}
console.log(
  `\nagreement with TIDE's output (max |Δ|): ${results
    .map(
      (r) =>
        `${r.name}: ${Object.entries(r.agreement)
          .map(([k, v]) => `${k} ${v.toExponential(1)}`)
          .join(', ')}`,
    )
    .join('; ')}`,
);
writeJson(jsonPath, {
  script: 'tools/bench/forward-vs-ort.mjs',
  machine: machineLine(),
  smoke: o.smoke,
  repeats: o.repeats,
  results: results.map(({ labels, ...r }) => ({
    ...r,
    labels: Object.fromEntries(labels.map((l) => [l.key, l.label])),
  })),
});
console.log(`JSON: ${jsonPath}`);
