#!/usr/bin/env node
// Generation speed: tokens per second of greedy generation, --new-tokens (128) new tokens after a --prompt-tokens
// (64) token prompt, TIDE's `generate` with its key/value cache (the default) against PyTorch with past
// keys/values (tools/bench/torch_generate.py, 1 thread), alternately in one run, reported as ratios; TIDE without
// the cache (`cache: false`, the window re-solved for every token) as a third row.
//
// The models: HF GPT-2 layout, random weights (GPT-2's initialisation: kernels N(0, 0.02), the residual-writing
// ones N(0, 0.02/√(2L)), positions N(0, 0.01), zero biases, unit gains; seeded; an untied LM head N(0, 0.02), so
// that random greedy tokens are not the last prompt token repeated), written as a checkpoint folder that both sides
// load. Shapes: gpt2-small (d 768, 12 heads, 12 layers, vocabulary 50 257, n_positions 256), d384 (d 384,
// 6 heads, 6 layers, the same vocabulary and positions) and embedded-256 (the embedded default model's
// architecture with 256 positions). The first 16 greedy tokens of TIDE and PyTorch must agree
// (else exit 1).
//
// Each measurement is its own process: load the checkpoint, generate --warmup tokens (untimed), then one timed
// generation; "first token" is the prompt's solve plus the first pick, "decode" the rate of the tokens after it.
//
// Needs the built packages (npm run build). usage:
//   node tools/bench/generation.mjs [--repeats 5] [--no-cache-repeats 1] [--shapes gpt2-small,d384]
//     [--prompt-tokens 64] [--new-tokens 128] [--smoke] [--json FILE] [--keep]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initEngine, tf } from '@tide/backend';
import { gpt2KeyTable } from '@tide/formats';
import { generate, generateTokens } from '@tide/transformer';
import { loadCheckpoint } from '@tide/transformer/node';
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
  writeJson,
  writeSafetensors,
  runChildMode,
} from './peers-common.mjs';

const SCRIPT = 'generation';
const SHAPES = {
  'gpt2-small': { d: 768, heads: 12, layers: 12, vocab: 50257, positions: 256 },
  d384: { d: 384, heads: 6, layers: 6, vocab: 50257, positions: 256 },
  // The embedded default model's architecture (d 48, 4 heads, 4 layers, 96 characters) with 256 positions instead
  // of its 64: the cache's speed-up at 256 tokens of context (--prompt-tokens 64 --new-tokens 192).
  'embedded-256': { d: 48, heads: 4, layers: 4, vocab: 96, positions: 256 },
  'smoke-a': { d: 64, heads: 2, layers: 2, vocab: 512, positions: 64 },
  'smoke-b': { d: 96, heads: 4, layers: 3, vocab: 1000, positions: 64 },
};
const CHECKED_TOKENS = 16;
/** Tokens at the end of the window whose rate is reported as the rate at full context. */
const END_TOKENS = 16;

// ---------------------------------------------------------------------------------------------------------------
// Children: one JSON line on stdout.
async function engine() {
  const info = await initEngine({ backend: 'wasm', gradients: false });
  tf.env().set('PROD', true);
  return { tf, backend: info.backend };
}

/**
 * Writes a random GPT-2 checkpoint folder to `dir`: the HF GPT-2 key table of @tide/formats gives the keys and
 * shapes; the values are drawn here (mulberry32 + Box–Muller, one seed per key), not through tfjs — saveCheckpoint
 * fails on a tensor of more than 2²⁴ elements such as a 50 257 × 768 embedding (see the report).
 */
async function prepare({ shape, dir }) {
  const { d, heads, layers: L, vocab, positions } = shape;
  const table = gpt2KeyTable({ layers: L, dModel: d, dFeedforward: 4 * d, vocabSize: vocab, positions });
  const tensors = {};
  let seed = 1;
  for (const e of table.entries) {
    const size = e.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    const leaf = e.paths[0].slice(e.paths[0].lastIndexOf('.') + 1);
    if (leaf === 'gamma') data.fill(1);
    else if (!(leaf === 'beta' || /^b[qkvo12]$/.test(leaf))) {
      const std =
        e.paths[0] === 'embeddings.positions' ? 0.01 : leaf === 'wo' || leaf === 'w2' ? 0.02 / Math.sqrt(2 * L) : 0.02;
      const random = mulberry32(seed++);
      for (let i = 0; i < size; i += 2) {
        const r = Math.sqrt(-2 * Math.log(1 - random()));
        const t = 2 * Math.PI * random();
        data[i] = std * r * Math.cos(t);
        if (i + 1 < size) data[i + 1] = std * r * Math.sin(t);
      }
    }
    tensors[e.key] = { dtype: 'F32', shape: [...e.shape], data };
  }
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  const config = {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    n_embd: d,
    n_head: heads,
    n_layer: L,
    n_positions: positions,
    n_ctx: positions,
    n_inner: 4 * d,
    vocab_size: vocab,
    layer_norm_epsilon: 1e-5,
    activation_function: 'gelu_new',
  };
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  return { ok: true };
}

/** A seeded generator of numbers in [0, 1) (mulberry32). */
function mulberry32(seed) {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Loads the checkpoint, warms up, then one timed greedy generation. */
async function measure({ dir, prompt, tokens, warmup, cache }) {
  const { backend } = await engine();
  const model = loadCheckpoint(dir);
  if (warmup > 0) generate(model, prompt, { maxNewTokens: warmup, cache });
  const out = [];
  const t0 = performance.now();
  const at = []; // seconds since t0 at which each token was chosen
  let first;
  for (const t of generateTokens(model, prompt, { maxNewTokens: tokens, cache })) {
    out.push(t);
    at.push((performance.now() - t0) / 1000);
    first ??= at[0];
  }
  const total = (performance.now() - t0) / 1000;
  // The last END_TOKENS tokens: their rate is the rate at the window's full context.
  const end = Math.min(END_TOKENS, at.length - 1);
  model.dispose();
  return {
    backend,
    tokens: out,
    total_s: total,
    first_token_s: first,
    end_tokens: end,
    end_s: end > 0 ? at[at.length - 1] - at[at.length - 1 - end] : undefined,
    peak_rss_mib: process.resourceUsage().maxRSS / 1024,
  };
}

await runChildMode({ prepare, measure });

// ---------------------------------------------------------------------------------------------------------------
// Parent.
const USAGE =
  'node tools/bench/generation.mjs [--repeats 5] [--no-cache-repeats 1] [--shapes gpt2-small,d384] [--prompt-tokens 64] [--new-tokens 128] [--smoke] [--json FILE] [--keep]';
const o = parseArgs(
  SCRIPT,
  process.argv.slice(2),
  {
    repeats: 5,
    noCacheRepeats: 1,
    shapes: '',
    promptTokens: 0,
    newTokens: 0,
    warmup: 4,
    smoke: false,
    json: '',
    keep: false,
  },
  USAGE,
);
const promptTokens = o.promptTokens || (o.smoke ? 16 : 64);
const newTokens = o.newTokens || (o.smoke ? 24 : 128);
if (!(Number.isInteger(o.repeats) && o.repeats >= 1)) fail(SCRIPT, '--repeats: expected an integer ≥ 1', 2);
if (!(Number.isInteger(o.noCacheRepeats) && o.noCacheRepeats >= 0))
  fail(SCRIPT, '--no-cache-repeats: expected an integer ≥ 0 (0 skips TIDE without the cache)', 2);
if (newTokens < CHECKED_TOKENS) fail(SCRIPT, `--new-tokens: at least ${CHECKED_TOKENS} (the checked tokens)`, 2);
const names = (o.shapes || (o.smoke ? 'smoke-a,smoke-b' : 'gpt2-small,d384')).split(',');
for (const n of names)
  if (!(n in SHAPES)) fail(SCRIPT, `--shapes: unknown "${n}" (${Object.keys(SHAPES).join(', ')})`, 2);
for (const n of names)
  if (promptTokens + newTokens > SHAPES[n].positions)
    fail(
      SCRIPT,
      `${n}: prompt + new tokens (${promptTokens + newTokens}) exceed n_positions ${SHAPES[n].positions}`,
      2,
    );
const why = torchUnavailable();
if (why) fail(SCRIPT, why);
const jsonPath = o.json || join(root, 'reports', 'bench', `generation${o.smoke ? '.smoke' : ''}.json`);
const SELF = join(here, 'generation.mjs');

/** A fixed pseudo-random prompt (the same ids for both sides). */
function promptIds(n, vocab) {
  const random = mulberry32(12345);
  return Array.from({ length: n }, () => Math.floor(random() * vocab));
}

function runShape(name) {
  const shape = SHAPES[name];
  const dir = mkdtempSync(join(tmpdir(), `tide-generation-${name}-`));
  try {
    lastJson(
      timed(process.execPath, [SELF, '--child', 'prepare', JSON.stringify({ shape, dir })]),
      `${name}: writing the checkpoint`,
    );
    const prompt = promptIds(promptTokens, shape.vocab);
    const tide = (cache) =>
      lastJson(
        timed(process.execPath, [
          SELF,
          '--child',
          'measure',
          JSON.stringify({ dir, prompt, tokens: newTokens, warmup: o.warmup, cache }),
        ]),
        `${name}: TIDE generate${cache ? '' : ' (cache: false)'}`,
      );
    const torch = () =>
      lastJson(
        timed(PYTHON, [
          join(here, 'torch_generate.py'),
          '--model',
          dir,
          '--prompt',
          prompt.join(','),
          '--tokens',
          String(newTokens),
          '--threads',
          '1',
          '--warmup',
          String(o.warmup),
        ]),
        `${name}: PyTorch generate`,
      );
    const runs = { cache: [], torch: [], nocache: [] };
    const rounds = Math.max(o.repeats, o.noCacheRepeats);
    for (let r = 0; r < rounds; r++) {
      const order = [
        ...(r < o.repeats ? [['cache', () => tide(true)]] : []),
        ...(r < o.repeats ? [['torch', torch]] : []),
        ...(r < o.noCacheRepeats ? [['nocache', () => tide(false)]] : []),
      ];
      if (r % 2 === 1) order.reverse();
      for (const [key, run] of order) runs[key].push(run());
    }
    const a = runs.cache[0].tokens.slice(0, CHECKED_TOKENS);
    const b = runs.torch[0].tokens.slice(0, CHECKED_TOKENS);
    if (a.join() !== b.join())
      throw new Error(
        `${name}: TIDE's and PyTorch's first ${CHECKED_TOKENS} greedy tokens differ: ${a.join(',')} / ${b.join(',')}`,
      );
    const cacheAgrees = runs.nocache.length === 0 || runs.nocache[0].tokens.join() === runs.cache[0].tokens.join();
    const summary = (list) =>
      list.length === 0
        ? undefined
        : {
            total_s: median(list.map((x) => x.total_s)),
            first_token_s: median(list.map((x) => x.first_token_s)),
            decode_s: median(list.map((x) => x.total_s - x.first_token_s)),
            tokens_per_s: newTokens / median(list.map((x) => x.total_s)),
            decode_tokens_per_s: (newTokens - 1) / median(list.map((x) => x.total_s - x.first_token_s)),
            end_tokens_per_s:
              list[0].end_s === undefined ? undefined : list[0].end_tokens / median(list.map((x) => x.end_s)),
            peak_rss_mib: median(list.map((x) => x.peak_rss_mib)),
            n: list.length,
          };
    return {
      name,
      shape,
      backend: runs.cache[0].backend,
      tide_cache: summary(runs.cache),
      pytorch: summary(runs.torch),
      tide_no_cache: summary(runs.nocache),
      first_tokens: a,
      cache_matches_no_cache: cacheAgrees,
      runs,
    };
  } finally {
    if (o.keep) console.log(`${name}: kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`generation — ${machineLine()}`);
console.log(
  `greedy, ${newTokens} new tokens after a ${promptTokens}-token prompt, batch 1; median of ${o.repeats} (TIDE without the cache: ${o.noCacheRepeats}), alternating; time ratios TIDE / peer (> 1: TIDE slower)${o.smoke ? ' — SMOKE RUN: tiny shapes, the numbers mean nothing' : ''}\n`,
);
const results = [];
for (const name of names) {
  try {
    results.push(runShape(name));
  } catch (e) {
    fail(SCRIPT, String(e?.message ?? e).split('\n')[0]);
  }
}
const what = (s) => `d ${s.d}, ${s.heads} heads, ${s.layers} layers, V ${s.vocab}`;
const tps = (x) => (x ? x.tokens_per_s.toFixed(1) : '—');
console.log(
  markdownTable(
    [
      'shape',
      'TIDE cache / PyTorch',
      'decode: TIDE cache / PyTorch',
      'TIDE no cache / TIDE cache',
      'TIDE cache tok/s',
      'PyTorch tok/s',
      'TIDE no cache tok/s',
    ],
    results.map((r) => [
      `${r.name} (${what(r.shape)})`,
      ratio(r.tide_cache.total_s, r.pytorch.total_s),
      ratio(r.tide_cache.decode_s, r.pytorch.decode_s),
      r.tide_no_cache ? ratio(r.tide_no_cache.total_s, r.tide_cache.total_s) : '—',
      tps(r.tide_cache),
      tps(r.pytorch),
      tps(r.tide_no_cache),
    ]),
  ),
);
console.log('\nbreakdown (medians): first token = the prompt solve + first pick; decode = the tokens after it');
console.log(
  markdownTable(
    ['shape', 'implementation', 'total', 'first token', 'decode tok/s', 'peak RSS MiB'],
    results.flatMap((r) =>
      [
        ['TIDE, key/value cache', r.tide_cache],
        ['PyTorch 1 thread, past key/values', r.pytorch],
        ['TIDE, cache: false', r.tide_no_cache],
      ]
        .filter(([, x]) => x)
        .map(([label, x]) => [
          r.name,
          `${label} (n = ${x.n})`,
          `${x.total_s.toFixed(3)} s`,
          `${x.first_token_s.toFixed(3)} s`,
          x.decode_tokens_per_s.toFixed(1),
          x.peak_rss_mib.toFixed(0),
        ]),
    ),
  ),
);
const ends = results.filter((r) => r.tide_no_cache?.end_tokens_per_s !== undefined);
if (ends.length > 0) {
  console.log(
    `\nat full context: the rate of the last ${END_TOKENS} tokens (context ${promptTokens + newTokens - END_TOKENS} … ${promptTokens + newTokens})`,
  );
  console.log(
    markdownTable(
      ['shape', 'cache speed-up (no cache time / cache time)', 'TIDE cache tok/s', 'TIDE no cache tok/s'],
      ends.map((r) => [
        r.name,
        ratio(1 / r.tide_no_cache.end_tokens_per_s, 1 / r.tide_cache.end_tokens_per_s),
        r.tide_cache.end_tokens_per_s.toFixed(1),
        r.tide_no_cache.end_tokens_per_s.toFixed(1),
      ]),
    ),
  );
}
for (const r of results)
  console.log(
    `${r.name}: first ${CHECKED_TOKENS} greedy tokens agree (TIDE = PyTorch): ${r.first_tokens.join(',')}; TIDE with and without the cache: ${r.tide_no_cache ? (r.cache_matches_no_cache ? `the same ${newTokens} tokens` : 'DIFFERENT tokens') : 'not run'}`,
  );
writeJson(jsonPath, {
  script: 'tools/bench/generation.mjs',
  machine: machineLine(),
  smoke: o.smoke,
  repeats: o.repeats,
  no_cache_repeats: o.noCacheRepeats,
  prompt_tokens: promptTokens,
  new_tokens: newTokens,
  results,
});
console.log(`JSON: ${jsonPath}`);
