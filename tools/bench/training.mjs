#!/usr/bin/env node
// Training throughput: tokens per second of `tide train`'s default model and step — GPT-2 layout, d 64, 4 heads,
// 4 layers, context 64, batch 16, character vocabulary (96), the exact scheme (Lie, one step per layer), mean
// next-token cross-entropy, AdamW (lr 3e-3 with warm-up 100 and cosine decay over 2 000 steps, weight decay 0.1) —
// against the same model, batches and AdamW step in PyTorch on 1 thread (tools/bench/torch_train.py), alternately
// in one run, reported as a ratio; then a profile of a TIDE training step (tf.profile on wasm): kernels per step,
// time per kernel type (top 15), time outside kernels.
//
// TIDE's step is @tide/train's, called as trainLanguageModel calls it (checkTrainOptions' defaults, sampleBatch with
// the loop's seeds, tf.variableGrads of languageModelLoss, AdamW.apply, the loss read back every step); validation
// and checkpoints are left out. Both sides start from the same initial weights (initLanguageModel, seed 0, written as
// a checkpoint folder) and train on the same batches (from data/moby-dick.txt): their first losses must agree to
// 1e-4 (else exit 1). Each measurement is its own process: --warmup-steps untimed steps, then --steps timed steps.
//
// Needs the built packages (npm run build). usage:
//   node tools/bench/training.mjs [--repeats 5] [--steps 20] [--warmup-steps 3] [--threads 2] [--smoke] [--json FILE] [--keep]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initEngine, seededRandom, tf } from '@tide/backend';
import {
  ASCII_ALPHABET,
  AdamW,
  asVariables,
  characterCorpus,
  checkTrainOptions,
  initLanguageModel,
  languageModelLoss,
  sampleBatch,
  warmupCosine,
} from '@tide/train';
import { loadCheckpoint, saveCheckpoint } from '@tide/transformer/node';
import {
  PYTHON,
  fail,
  here,
  lastJson,
  machineLine,
  markdownTable,
  median,
  parseArgs,
  ratio,
  root,
  timed,
  torchUnavailable,
  readSafetensors,
  writeJson,
  writeSafetensors,
  runChildMode,
} from './peers-common.mjs';

const SCRIPT = 'training';
/** `tide train`'s defaults (packages/cli/src/cli.ts); the smoke architecture is smaller. */
const DEFAULT = { dModel: 64, heads: 4, layers: 4, contextLength: 64, batch: 16 };
const SMOKE = { dModel: 32, heads: 2, layers: 2, contextLength: 32, batch: 4 };
const TRAIN = { steps: 2000, learningRate: 3e-3, weightDecay: 0.1, seed: 0 }; // the CLI's defaults
const TOLERANCE = 1e-4;

// ---------------------------------------------------------------------------------------------------------------
// Children: one JSON line on stdout.
async function engine(threads = 1) {
  const info = await initEngine({ backend: 'wasm', gradients: true, threads }); // as `tide train [--threads n]`
  tf.env().set('PROD', true);
  return { tf, backend: info.backend };
}

/** The initial checkpoint (initLanguageModel) and the batches of the first `count` steps of the loop. */
async function prepare({ arch, dir, count }) {
  const { tf } = await engine();
  const { model } = initLanguageModel(arch, ASCII_ALPHABET, TRAIN.seed);
  saveCheckpoint(model, join(dir, 'model'));
  model.dispose();
  const corpus = characterCorpus(readFileSync(join(root, 'data', 'moby-dick.txt'), 'utf8'));
  const { batch, contextLength: N } = arch;
  const inputs = new Int32Array(count * batch * N);
  const targets = new Int32Array(count * batch * N);
  for (let step = 0; step < count; step++) {
    const b = sampleBatch(corpus.train, batch, N, seededRandom(TRAIN.seed * 1_000_033 + step)); // as the loop
    inputs.set(b.inputs.dataSync(), step * batch * N);
    targets.set(b.targets.dataSync(), step * batch * N);
    tf.dispose([b.inputs, b.targets]);
  }
  const shape = [count, batch, N];
  writeSafetensors(join(dir, 'batches.safetensors'), {
    inputs: { dtype: 'I32', shape, data: inputs },
    targets: { dtype: 'I32', shape, data: targets },
  });
  return { ok: true };
}

/** A training step as trainLanguageModel's loop runs it: returns { step(i) → loss, dispose }. */
async function trainer({ arch, dir, threads = 1 }) {
  const { tf } = await engine(threads);
  const checked = checkTrainOptions(
    { ...arch, batch: undefined },
    { steps: TRAIN.steps, batchSize: arch.batch },
    ASCII_ALPHABET,
  );
  const choice = checked.schemes[0];
  const lossOptions = {
    scheme: choice.scheme,
    stepsPerLayer: choice.stepsPerLayer,
    schedule: checked.schedule,
    kineticWeight: checked.kineticWeight,
    controlWeight: checked.controlWeight,
  };
  const { model, variables, decay } = asVariables(loadCheckpoint(join(dir, 'model')));
  const optimizer = new AdamW(variables, decay, { learningRate: TRAIN.learningRate, weightDecay: TRAIN.weightDecay });
  const warmup = Math.min(100, Math.floor(TRAIN.steps / 10));
  const batches = readSafetensors(join(dir, 'batches.safetensors'));
  const { batch, contextLength: N } = arch;
  const slice = (name, i) =>
    tf.tensor2d(batches.get(name).data.subarray(i * batch * N, (i + 1) * batch * N), [batch, N], 'int32');
  const step = (i) => {
    const inputs = slice('inputs', i);
    const targets = slice('targets', i);
    const lr = warmupCosine(i, TRAIN.learningRate, warmup, TRAIN.steps);
    const { value, grads } = tf.variableGrads(
      () => languageModelLoss(model, inputs, targets, lossOptions).loss,
      [...variables.values()],
    );
    const loss = value.dataSync()[0];
    optimizer.apply(grads, lr);
    tf.dispose([value, inputs, targets, ...Object.values(grads)]);
    return loss;
  };
  return {
    tf,
    step,
    description: `${choice.scheme}, ${choice.stepsPerLayer} step(s) per layer`,
    dispose: () => {
      optimizer.dispose();
      model.dispose();
    },
  };
}

async function measure({ arch, dir, steps, warmupSteps, threads = 1 }) {
  const t = await trainer({ arch, dir, threads });
  const losses = [];
  const times = [];
  for (let i = 0; i < warmupSteps + steps; i++) {
    const t0 = performance.now();
    losses.push(t.step(i));
    if (i >= warmupSteps) times.push((performance.now() - t0) / 1000);
  }
  t.dispose();
  const tokens = steps * arch.batch * arch.contextLength;
  return {
    scheme: t.description,
    losses,
    step_s: times,
    tokens_per_s: tokens / times.reduce((a, b) => a + b, 0),
    peak_rss_mib: process.resourceUsage().maxRSS / 1024,
  };
}

/**
 * The profile of `profiledSteps` steps in one tf.profile (figures per step: their mean), after `warmupSteps` plain
 * steps and `plainSteps` timed plain ones (the unprofiled wall time per step: their median).
 */
async function profile({ arch, dir, warmupSteps, plainSteps, profiledSteps }) {
  const t = await trainer({ arch, dir });
  let i = 0;
  for (; i < warmupSteps; i++) t.step(i);
  const plain = [];
  for (let j = 0; j < plainSteps; j++, i++) {
    const t0 = performance.now();
    t.step(i);
    plain.push(performance.now() - t0);
  }
  const t0 = performance.now();
  const p = await t.tf.profile(() => {
    for (let j = 0; j < profiledSteps; j++, i++) t.step(i);
  });
  const profiledWall = (performance.now() - t0) / profiledSteps;
  const byKernel = {};
  let kernelMs = 0;
  for (const k of p.kernels) {
    const e = (byKernel[k.name] ??= { count: 0, ms: 0 });
    e.count++;
    e.ms += k.kernelTimeMs;
    kernelMs += k.kernelTimeMs;
  }
  for (const e of Object.values(byKernel)) {
    e.count /= profiledSteps;
    e.ms /= profiledSteps;
  }
  t.dispose();
  return {
    profiled_steps: profiledSteps,
    kernels: p.kernels.length / profiledSteps,
    kernel_ms: kernelMs / profiledSteps,
    profiled_wall_ms: profiledWall,
    plain_wall_ms: median(plain),
    by_kernel: Object.fromEntries(Object.entries(byKernel).sort((a, b) => b[1].ms - a[1].ms)),
  };
}

await runChildMode({ prepare, measure, profile });

// ---------------------------------------------------------------------------------------------------------------
// Parent.
const USAGE =
  'node tools/bench/training.mjs [--repeats 5] [--steps 20] [--warmup-steps 3] [--threads 2] [--smoke] [--json FILE] [--keep]';
const o = parseArgs(
  SCRIPT,
  process.argv.slice(2),
  { repeats: 5, steps: 0, warmupSteps: 0, threads: 2, smoke: false, json: '', keep: false },
  USAGE,
);
if (!(Number.isInteger(o.threads) && o.threads >= 1 && o.threads <= 8))
  fail(SCRIPT, '--threads: expected an integer from 1 to 8 (1: no threaded series)', 2);
const steps = o.steps || (o.smoke ? 3 : 20);
const warmupSteps = o.warmupSteps || (o.smoke ? 1 : 3);
if (!(Number.isInteger(o.repeats) && o.repeats >= 1)) fail(SCRIPT, '--repeats: expected an integer ≥ 1', 2);
if (!(Number.isInteger(steps) && steps >= 1)) fail(SCRIPT, '--steps: expected an integer ≥ 1', 2);
const why = torchUnavailable();
if (why) fail(SCRIPT, why);
const arch = o.smoke ? SMOKE : DEFAULT;
const jsonPath = o.json || join(root, 'reports', 'bench', `training${o.smoke ? '.smoke' : ''}.json`);
const SELF = join(here, 'training.mjs');
const PROFILE_PLAIN_STEPS = 3;
const PROFILED_STEPS = 3;

const dir = mkdtempSync(join(tmpdir(), 'tide-training-'));
let result;
try {
  const child = (mode, spec, what) =>
    lastJson(timed(process.execPath, [SELF, '--child', mode, JSON.stringify({ arch, dir, ...spec })]), what);
  child(
    'prepare',
    { count: Math.max(warmupSteps + steps, warmupSteps + PROFILE_PLAIN_STEPS + PROFILED_STEPS) },
    'writing the model and batches',
  );
  const tide = () => child('measure', { steps, warmupSteps }, 'TIDE training');
  const tideThreads = () => child('measure', { steps, warmupSteps, threads: o.threads }, 'TIDE training, threads');
  const torch = () =>
    lastJson(
      timed(PYTHON, [
        join(here, 'torch_train.py'),
        '--model',
        join(dir, 'model'),
        '--batches',
        join(dir, 'batches.safetensors'),
        '--steps',
        String(steps),
        '--warmup-steps',
        String(warmupSteps),
        '--threads',
        '1',
        '--lr',
        String(TRAIN.learningRate),
        '--weight-decay',
        String(TRAIN.weightDecay),
        '--lr-warmup',
        String(Math.min(100, Math.floor(TRAIN.steps / 10))),
        '--total-steps',
        String(TRAIN.steps),
      ]),
      'PyTorch training',
    );
  const runs = { tide: [], torch: [], threads: [] };
  for (let r = 0; r < o.repeats; r++) {
    if (r % 2 === 0) {
      runs.tide.push(tide());
      runs.torch.push(torch());
      if (o.threads > 1) runs.threads.push(tideThreads());
    } else {
      if (o.threads > 1) runs.threads.push(tideThreads());
      runs.torch.push(torch());
      runs.tide.push(tide());
    }
  }
  const l0 = runs.tide[0].losses[0];
  const p0 = runs.torch[0].losses[0];
  if (!(Math.abs(l0 - p0) <= TOLERANCE))
    throw new Error(`the first losses differ: TIDE ${l0} / PyTorch ${p0} (|Δ| > ${TOLERANCE})`);
  const prof = child(
    'profile',
    { warmupSteps, plainSteps: PROFILE_PLAIN_STEPS, profiledSteps: PROFILED_STEPS },
    'TIDE step profile',
  );
  result = { runs, profile: prof };
} catch (e) {
  fail(SCRIPT, String(e?.message ?? e).split('\n')[0]);
} finally {
  if (o.keep) console.log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

const { runs, profile: prof } = result;
const tideTps = median(runs.tide.map((r) => r.tokens_per_s));
const threadsTps = runs.threads.length > 0 ? median(runs.threads.map((r) => r.tokens_per_s)) : undefined;
const torchTps = median(runs.torch.map((r) => r.tokens_per_s));
const tokensPerStep = arch.batch * arch.contextLength;
console.log(`training — ${machineLine()}`);
console.log(
  `model: GPT-2 layout, d ${arch.dModel}, ${arch.heads} heads, ${arch.layers} layers, context ${arch.contextLength}, batch ${arch.batch} (${tokensPerStep} tokens a step), 96 characters; TIDE ${runs.tide[0].scheme}; ${steps} timed steps after ${warmupSteps}, median of ${o.repeats} processes each, alternating${o.smoke ? ' — SMOKE RUN: tiny model, the numbers mean nothing' : ''}\n`,
);
console.log(
  markdownTable(
    ['time ratio TIDE / PyTorch 1 thread', 'TIDE tok/s', 'PyTorch 1 thread tok/s', 'TIDE s/step', 'PyTorch s/step'],
    [
      [
        ratio(torchTps, tideTps),
        tideTps.toFixed(0),
        torchTps.toFixed(0),
        (tokensPerStep / tideTps).toFixed(4),
        (tokensPerStep / torchTps).toFixed(4),
      ],
    ],
  ),
);
if (threadsTps !== undefined) {
  console.log(
    `\nwith ${o.threads} XNNPACK threads (initEngine({ threads }), tide train --threads ${o.threads}); the losses are those of one thread:`,
  );
  console.log(
    markdownTable(
      [
        `time ratio TIDE ${o.threads} threads / PyTorch 1 thread`,
        `TIDE ${o.threads} threads / TIDE 1 thread`,
        `TIDE ${o.threads} threads tok/s`,
      ],
      [[ratio(torchTps, threadsTps), ratio(tideTps, threadsTps), threadsTps.toFixed(0)]],
    ),
  );
  const a = runs.tide[0].losses;
  const b = runs.threads[0].losses;
  const gap = Math.max(...a.map((l, i) => Math.abs(l - b[i])));
  if (!(gap <= TOLERANCE)) fail(SCRIPT, `the threaded losses differ from one thread's by ${gap}`);
}
const lastTide = runs.tide[0].losses;
const lastTorch = runs.torch[0].losses;
console.log(
  `\nlosses agree: step 1 TIDE ${lastTide[0].toFixed(6)} / PyTorch ${lastTorch[0].toFixed(6)}; step ${lastTide.length} TIDE ${lastTide.at(-1).toFixed(6)} / PyTorch ${lastTorch.at(-1).toFixed(6)} (max |Δ| over the steps ${Math.max(...lastTide.map((l, i) => Math.abs(l - lastTorch[i]))).toExponential(1)})`,
);
const outside = prof.plain_wall_ms - prof.kernel_ms;
console.log(
  `\nprofile of a TIDE training step (tf.profile on wasm, mean of ${prof.profiled_steps} steps): ${prof.kernels} kernels; Σ kernel time ${prof.kernel_ms.toFixed(1)} ms; wall ${prof.plain_wall_ms.toFixed(1)} ms unprofiled (median of ${PROFILE_PLAIN_STEPS}), ${prof.profiled_wall_ms.toFixed(1)} ms profiled; outside kernels ${outside.toFixed(1)} ms (${((100 * outside) / prof.plain_wall_ms).toFixed(0)} % of the unprofiled step)`,
);
console.log(
  markdownTable(
    ['kernel', 'launches', 'ms', '% of kernel time', 'µs / launch'],
    Object.entries(prof.by_kernel)
      .slice(0, 15)
      .map(([k, v]) => [
        k,
        Number.isInteger(v.count) ? v.count : v.count.toFixed(1),
        v.ms.toFixed(1),
        ((100 * v.ms) / prof.kernel_ms).toFixed(1),
        ((1000 * v.ms) / v.count).toFixed(0),
      ]),
  ),
);
writeJson(jsonPath, {
  script: 'tools/bench/training.mjs',
  machine: machineLine(),
  smoke: o.smoke,
  arch,
  steps,
  warmup_steps: warmupSteps,
  repeats: o.repeats,
  tide_tokens_per_s: tideTps,
  tide_threads: o.threads,
  tide_threads_tokens_per_s: threadsTps ?? null,
  pytorch_tokens_per_s: torchTps,
  runs,
  profile: prof,
});
console.log(`JSON: ${jsonPath}`);
