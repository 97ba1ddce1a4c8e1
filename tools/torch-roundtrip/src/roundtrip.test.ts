// PyTorch round trip: a checkpoint written by `tide train` (HF GPT-2 layout) is loaded by PyTorch, whose GPT-2
// forward reproduces TIDE's logits. Runs where Debian's python3-torch is installed; skipped (and says so) elsewhere.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { DEFAULT_MODEL_DIR } from '@tide/cli';
import { writeSafetensors } from '@tide/formats';
import { forward } from '@tide/transformer';
import { loadCheckpoint } from '@tide/transformer/node';
import { characterCorpus, trainLanguageModel } from '@tide/train';

const python = '/usr/bin/python3';
const hasTorch = spawnSync(python, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0;
const checker = fileURLToPath(new URL('../../fixtures/check_gpt2_roundtrip.py', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'tide-torch-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

if (!hasTorch)
  console.warn('torch round trip SKIPPED: /usr/bin/python3 cannot import torch (apt-get install python3-torch)');

function roundTrip(modelDir: string, ids: number[][]): { status: number | null; output: string } {
  const model = loadCheckpoint(modelDir);
  const input = tf.tensor2d(ids, [ids.length, ids[0]!.length], 'int32');
  const logits = forward(model, { inputIds: input }).output;
  const io = join(work, `io-${Date.now()}.safetensors`);
  writeFileSync(
    io,
    writeSafetensors({
      input_ids: { dtype: 'I64', shape: input.shape, data: input.dataSync() },
      logits: { dtype: 'F32', shape: logits.shape, data: logits.dataSync() },
    }),
  );
  tf.dispose([input, logits]);
  model.dispose();
  const r = spawnSync(python, [checker, modelDir, io], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('PyTorch loads what tide train wrote', () => {
  it.skipIf(!hasTorch)('a freshly trained checkpoint: PyTorch reproduces our logits', () => {
    const text = readFileSync(fileURLToPath(new URL('../../../data/moby-dick.txt', import.meta.url)), 'utf8').slice(
      0,
      30_000,
    );
    const dir = join(work, 'trained');
    const r = trainLanguageModel(
      characterCorpus(text),
      { dModel: 16, heads: 4, layers: 2, contextLength: 12 },
      { steps: 8, batchSize: 4, evalEvery: 8, evalBatches: 1, outDir: dir },
    );
    r.model.dispose();
    const result = roundTrip(dir, [
      [40, 73, 72, 0, 5, 9, 33, 80],
      [1, 2, 3, 4, 5, 6, 7, 8],
    ]);
    console.log(`torch round trip: ${result.output.trim()}`);
    expect(result.output).toMatch(/max\|Δ\| = /);
    expect(result.status, result.output).toBe(0);
  });

  it.skipIf(!hasTorch)('the embedded default model', () => {
    const result = roundTrip(DEFAULT_MODEL_DIR, [[52, 72, 69, 0, 73, 78, 84, 69, 71, 82, 65, 76]]);
    expect(result.status, result.output).toBe(0);
  });
});
