#!/usr/bin/env node
// ONNX Runtime for Node (onnxruntime-node, CPU execution provider) as a benchmark peer: loads an ONNX model (one
// float input `input`, one output `output`; tools/bench/export_onnx.py writes them), runs it on an input
// .safetensors file and prints one JSON line: load time, the first run, the median of --repeats timed runs after
// --warmup runs. tfjs is not loaded: as a whole process this is Node + ONNX Runtime + load + run.
//
// usage: node tools/bench/ort-peer.mjs --model M.onnx --input IN.safetensors [--threads 1] [--repeats 5]
//          [--warmup 1] [--output OUT.safetensors] [--optimized-model OPT.onnx] [--load-only]
//   --threads            intra-op threads (inter-op: 1)
//   --output             write the first run's output (tensor "output") as safetensors
//   --optimized-model    write ORT's optimised graph there (sessionOptions.optimizedModelFilePath)
//   --load-only          create the session (and the optimised graph) and stop
import { fail, median, parseArgs, readSafetensors, requireOrt, writeSafetensors } from './peers-common.mjs';

const SCRIPT = 'ort-peer';
const USAGE =
  'node tools/bench/ort-peer.mjs --model M.onnx --input IN.safetensors [--threads 1] [--repeats 5] [--warmup 1] [--output OUT] [--optimized-model OPT] [--load-only]';
const o = parseArgs(
  SCRIPT,
  process.argv.slice(2),
  { model: '', input: '', threads: 1, repeats: 5, warmup: 1, output: '', optimizedModel: '', loadOnly: false },
  USAGE,
);
if (!o.model || (!o.input && !o.loadOnly)) fail(SCRIPT, `--model and --input are required; usage: ${USAGE}`, 2);

const t0 = performance.now();
let ort;
try {
  ort = requireOrt();
} catch (e) {
  fail(SCRIPT, `onnxruntime-node does not load: ${String(e?.message ?? e).split('\n')[0]}`);
}
const options = {
  intraOpNumThreads: o.threads,
  interOpNumThreads: 1,
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  logSeverityLevel: 3, // errors only: no warning about serialising a hardware-specific optimised graph
  ...(o.optimizedModel && { optimizedModelFilePath: o.optimizedModel }),
};
try {
  const session = await ort.InferenceSession.create(o.model, options);
  const load_s = (performance.now() - t0) / 1000;
  if (o.loadOnly) {
    process.stdout.write(`${JSON.stringify({ peer: `onnxruntime-node ${ort.env.versions?.node ?? '?'}`, load_s })}\n`);
    process.exit(0);
  }
  const x = readSafetensors(o.input).get('input');
  if (x === undefined || x.dtype !== 'F32') fail(SCRIPT, `${o.input}: no float32 tensor "input"`);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) };
  const run = async () => {
    const s = performance.now();
    const r = await session.run(feeds);
    return { seconds: (performance.now() - s) / 1000, out: r[session.outputNames[0]] };
  };
  const first = await run();
  if (o.output) writeSafetensors(o.output, { output: { dtype: 'F32', shape: first.out.dims, data: first.out.data } });
  for (let i = 1; i < o.warmup; i++) await run();
  const times = [];
  for (let i = 0; i < o.repeats; i++) times.push((await run()).seconds);
  process.stdout.write(
    `${JSON.stringify({
      peer: `onnxruntime-node ${ort.env.versions?.node ?? '?'} (${o.threads} thread${o.threads > 1 ? 's' : ''})`,
      load_s,
      first_run_s: first.seconds,
      median_s: times.length ? median(times) : first.seconds,
      runs: times,
    })}\n`,
  );
} catch (e) {
  fail(SCRIPT, String(e?.message ?? e).split('\n')[0]);
}
