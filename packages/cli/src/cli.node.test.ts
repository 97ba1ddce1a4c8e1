// The CLI in-process (runCli), exactly as `tide` runs it: parity through files, and the error contract of
// docs/checkpoints.md (one line, non-zero exit, no output file written).
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKEND_NAMES, MAX_WASM_THREADS, tf } from '@tide/backend';
import { FIXTURE_NAMES, fixtureDir, fixtureIO, maxAbsDiff, parityTolerance } from '@tide/fixtures';
import { readSafetensors, writeSafetensors } from '@tide/formats';
import { SCHEME_NAMES } from '@tide/transformer';
import { loadCheckpoint } from '@tide/transformer/node';
import { DEFAULT_MODEL_DIR, HELP_BACKENDS, HELP_SCHEMES, runCli } from './cli.js';
import { tide } from './cli-outcome.fixture.js';

const work = mkdtempSync(join(tmpdir(), 'tide-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function readOutput(file: string): tf.Tensor3D {
  const t = readSafetensors(new Uint8Array(readFileSync(file)), file).tensors.get('output')!;
  return tf.tensor3d(t.data as Float32Array, t.shape as [number, number, number]);
}

describe('tide forward', () => {
  for (const backend of ['cpu', 'wasm']) {
    it.each(FIXTURE_NAMES)(`%s matches PyTorch through the CLI on ${backend}`, async (name) => {
      const output = join(work, `${name}-${backend}.safetensors`);
      const r = await tide(
        'forward',
        '--model',
        fixtureDir(name),
        '--input',
        join(fixtureDir(name), 'io.safetensors'),
        '--output',
        output,
        '--backend',
        backend,
      );
      expect(r.err).toEqual([]);
      expect(r.code).toBe(0);
      expect(r.out[0]).toMatch(new RegExp(`on ${backend}: output`));
      const got = readOutput(output);
      const io = fixtureIO(name);
      expect(maxAbsDiff(got, io.output)).toBeLessThanOrEqual(parityTolerance(io.output));
      tf.dispose(got);
      io.dispose();
    });
  }

  it('runs refined schemes on a pre-LN model (--scheme rk4 --steps-per-layer 4)', async () => {
    const output = join(work, 'refined.safetensors');
    const r = await tide(
      'forward',
      '--model',
      fixtureDir('gpt2-tiny'),
      '--input',
      join(fixtureDir('gpt2-tiny'), 'io.safetensors'),
      '--output',
      output,
      '--scheme',
      'rk4',
      '--steps-per-layer',
      '4',
    );
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(/pre-LN rk4, 4 step\(s\) per layer/);
    expect(existsSync(output)).toBe(true);
  });
});

describe('tide: errors are one line, a non-zero exit and no output file', () => {
  const model = fixtureDir('encoder-postln-relu');
  const input = join(fixtureDir('encoder-postln-relu'), 'io.safetensors');

  async function expectFailure(argv: string[], pattern: RegExp, code = 1): Promise<void> {
    const output = join(work, 'never.safetensors');
    rmSync(output, { force: true });
    const r = await tide(...argv.map((a) => (a === '@out' ? output : a)));
    expect(r.code).toBe(code);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).not.toMatch(/\n| {4}at /);
    expect(r.err[0]).toMatch(pattern);
    expect(existsSync(output)).toBe(false);
  }

  it('a truncated or malformed input file', async () => {
    const truncated = join(work, 'truncated.safetensors');
    writeFileSync(truncated, readFileSync(input).subarray(0, 200));
    await expectFailure(
      ['forward', '--model', model, '--input', truncated, '--output', '@out'],
      /truncated\.safetensors.*(truncated|header)/,
    );
    const garbage = join(work, 'garbage.safetensors');
    writeFileSync(garbage, Buffer.from('not a safetensors file at all'));
    await expectFailure(
      ['forward', '--model', model, '--input', garbage, '--output', '@out'],
      /garbage\.safetensors: header/,
    );
  });

  it('a missing, misshapen or non-finite input tensor', async () => {
    const wrongName = join(work, 'wrong-name.safetensors');
    writeFileSync(wrongName, writeSafetensors({ x: { dtype: 'F32', shape: [1, 2, 16], data: new Float32Array(32) } }));
    await expectFailure(
      ['forward', '--model', model, '--input', wrongName, '--output', '@out'],
      /wrong-name\.safetensors: tensor "input": expected float32 hidden states \[B, N, 16\], received no such tensor \(found: x\)/,
    );
    const wrongShape = join(work, 'wrong-shape.safetensors');
    writeFileSync(
      wrongShape,
      writeSafetensors({ input: { dtype: 'F32', shape: [1, 2, 8], data: new Float32Array(16) } }),
    );
    await expectFailure(
      ['forward', '--model', model, '--input', wrongShape, '--output', '@out'],
      /tensor "input": expected float32 hidden states \[B ≥ 1, N ≥ 1, 16\], received a tensor of shape \[1, 2, 8\]/,
    );
    const nan = join(work, 'nan.safetensors');
    writeFileSync(
      nan,
      writeSafetensors({ input: { dtype: 'F32', shape: [1, 1, 16], data: new Float32Array(16).fill(NaN) } }),
    );
    await expectFailure(
      ['forward', '--model', model, '--input', nan, '--output', '@out'],
      /tensor "input": expected finite values, received NaN or ±Inf/,
    );
    const ids = join(work, 'ids.safetensors');
    writeFileSync(ids, writeSafetensors({ input_ids: { dtype: 'I64', shape: [1, 2], data: [1, 77] } }));
    await expectFailure(
      ['forward', '--model', fixtureDir('gpt2-tiny'), '--input', ids, '--output', '@out'],
      /tensor "input_ids": expected token ids in 0…49, received 77 at index 1/,
    );
  });

  it('a config that does not match the weights, and a broken checkpoint folder', async () => {
    const broken = mkdtempSync(join(work, 'model-'));
    copyFileSync(join(model, 'model.safetensors'), join(broken, 'model.safetensors'));
    const cfg = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8'));
    writeFileSync(join(broken, 'config.json'), JSON.stringify({ ...cfg, dim_feedforward: 32 }));
    await expectFailure(
      ['forward', '--model', broken, '--input', input, '--output', '@out'],
      /"layers\.0\.linear1\.weight": expected shape \[32, 16\] \(from config\.json\), received \[24, 16\]/,
    );
    writeFileSync(join(broken, 'config.json'), JSON.stringify({ ...cfg, num_layers: 3 }));
    await expectFailure(
      ['forward', '--model', broken, '--input', input, '--output', '@out'],
      /"layers\.2\.norm1\.weight": expected a tensor of shape \[16\] \(torch nn\.TransformerEncoder layout\), received no such key/,
    );
    writeFileSync(join(broken, 'config.json'), JSON.stringify({ ...cfg, num_layers: 1 }));
    await expectFailure(
      ['forward', '--model', broken, '--input', input, '--output', '@out'],
      /"layers\.1\.[^"]+".*expected only the tensors of the torch nn\.TransformerEncoder layout that config\.json describes, received \d+ unused tensor/,
    );
    const allowed = await tide(
      'forward',
      '--model',
      broken,
      '--input',
      input,
      '--output',
      join(work, 'allowed.safetensors'),
      '--allow-unused',
    );
    expect(allowed.err).toEqual([]);
    expect(allowed.code).toBe(0);
    writeFileSync(join(broken, 'config.json'), '{ not json');
    await expectFailure(
      ['forward', '--model', broken, '--input', input, '--output', '@out'],
      /config\.json: expected valid JSON/,
    );
    writeFileSync(join(broken, 'config.json'), JSON.stringify({ model_type: 'bert' }));
    await expectFailure(
      ['forward', '--model', broken, '--input', input, '--output', '@out'],
      /expected "model_type": "gpt2" or "format": "torch-transformer-encoder"/,
    );
    await expectFailure(
      ['forward', '--model', join(work, 'nowhere'), '--input', input, '--output', '@out'],
      /nowhere: expected a model folder/,
    );
  });

  it('an output that would clobber an input, a device, a directory or a symlink is refused; nothing is replaced', async () => {
    const before = readFileSync(input);
    await expectFailure(
      ['forward', '--model', model, '--input', input, '--output', input],
      /expected an output path that is not one of the inputs, received the same file as/,
    );
    await expectFailure(
      ['forward', '--model', model, '--input', input, '--output', join(model, 'model.safetensors')],
      /not one of the inputs/,
    );
    expect(readFileSync(input).equals(before)).toBe(true);
    await expectFailure(
      ['forward', '--model', model, '--input', input, '--output', '/dev/null'],
      /\/dev\/null: expected a new file or an existing regular file to replace, received a device, FIFO or socket/,
    );
    await expectFailure(['forward', '--model', model, '--input', input, '--output', work], /received a directory/);
    const link = join(work, 'link.safetensors');
    rmSync(link, { force: true });
    symlinkSync(input, link);
    await expectFailure(['forward', '--model', model, '--input', input, '--output', link], /received a symbolic link/);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });

  it('an input beyond the memory budget is refused in one line, and --max-memory raises it', async () => {
    const big = join(work, 'big-ids.safetensors');
    writeFileSync(
      big,
      writeSafetensors({ input_ids: { dtype: 'I32', shape: [100_000, 32], data: new Int32Array(3_200_000) } }),
    );
    await expectFailure(
      ['forward', '--model', fixtureDir('gpt2-tiny'), '--input', big, '--output', '@out'],
      /forward: memory budget: .*--max-memory GIB/,
    );
    const small = join(work, 'small-ids.safetensors');
    writeFileSync(
      small,
      writeSafetensors({ input_ids: { dtype: 'I32', shape: [1, 4], data: new Int32Array([1, 2, 3, 4]) } }),
    );
    await expectFailure(
      ['forward', '--model', fixtureDir('gpt2-tiny'), '--input', small, '--output', '@out', '--max-work', '0.000001'],
      /forward: work budget/,
    );
    await expectFailure(
      ['forward', '--model', fixtureDir('gpt2-tiny'), '--input', small, '--output', '@out', '--max-memory', '-1'],
      /option '--max-memory <GiB>' argument '-1' is invalid/,
      2,
    );
  });

  it('failing commands in-process leave no tensors behind (the model and the input are disposed)', async () => {
    const engine = tf;
    await tide('inspect', '--model', model); // the engine is up
    const before = engine.memory().numTensors;
    const nan = join(work, 'nan-leak.safetensors');
    writeFileSync(
      nan,
      writeSafetensors({ input: { dtype: 'F32', shape: [1, 2, 16], data: new Float32Array(32).fill(NaN) } }),
    );
    for (let i = 0; i < 3; i++) {
      expect(
        (await tide('forward', '--model', model, '--input', nan, '--output', join(work, 'x.safetensors'))).code,
      ).toBe(1);
      expect(
        (
          await tide(
            'forward',
            '--model',
            model,
            '--input',
            input,
            '--output',
            join(work, 'x.safetensors'),
            '--scheme',
            'rk4',
          )
        ).code,
      ).toBe(2);
      expect(
        (
          await tide(
            'forward',
            '--model',
            fixtureDir('gpt2-tiny'),
            '--input',
            nan,
            '--output',
            join(work, 'x.safetensors'),
          )
        ).code,
      ).toBe(1);
    }
    expect(engine.memory().numTensors).toBe(before);
  });

  it('an unknown backend, scheme or option, and a missing argument', async () => {
    await expectFailure(
      ['forward', '--model', model, '--input', input, '--output', '@out', '--backend', 'cuda'],
      /option '--backend <name>' argument 'cuda' is invalid\. Allowed choices are auto, webgl, wasm, cpu/,
      2,
    );
    await expectFailure(
      ['forward', '--model', model, '--input', input, '--output', '@out', '--backend', 'webgl'],
      /registered in this node environment \(wasm, cpu\)/,
      1,
    );
    await expectFailure(
      ['forward', '--model', model, '--input', input, '--output', '@out', '--scheme', 'rk4'],
      /post-LN layers are projections/,
      2,
    );
    await expectFailure(
      ['forward', '--model', model, '--input', input, '--output', '@out', '--threads', '0'],
      /option '--threads <n>' argument '0' is invalid/,
      2,
    );
    expect(MAX_WASM_THREADS).toBe(8); // the parser's bound
    await expectFailure(
      ['forward', '--model', model, '--input', input, '--output', '@out', '--threads', '9'],
      /option '--threads <n>' argument '9' is invalid.*expected an integer from 1 to 8/,
      2,
    );
    await expectFailure(
      [
        'forward',
        '--model',
        model,
        '--input',
        input,
        '--output',
        '@out',
        '--scheme',
        'exact',
        '--steps-per-layer',
        '2',
      ],
      /scheme exact: expected one step per layer/,
      2,
    );
    await expectFailure(
      ['forward', '--model', model, '--input', input, '--output', '@out', '--scheme', 'midpoint'],
      /scheme: expected one of exact, lie, strang, euler, heun, rk4, dopri5, bosh3, received "midpoint"/,
      2,
    );
    await expectFailure(
      ['forward', '--model', model, '--input', input],
      /required option '--output <file>' not specified/,
      2,
    );
    await expectFailure(
      ['forward', '--model', model, '--input', input, '--output', '@out', '--colour', 'red'],
      /unknown option '--colour'/,
      2,
    );
    await expectFailure(['fly'], /unknown command 'fly'/, 2);
    await expectFailure(
      ['forward', '--model', model, '--input', input, '--output', '@out', '--steps-per-layer', 'two'],
      /option '--steps-per-layer <k>' argument 'two' is invalid\. expected an integer ≥ 1, received "two"/,
      2,
    );
    await expectFailure(['generate', '--model', model], /pass --prompt TEXT or --ids 1,2,3/, 2);
  });
});

describe('tide generate, inspect and run', () => {
  it('generates greedily and reproducibly with a seeded sampler', async () => {
    const greedy = await tide('generate', '--model', fixtureDir('gpt2-tiny'), '--ids', '3,17,42', '--tokens', '5');
    expect(greedy.code).toBe(0);
    const ids = greedy.out[0]!.split(',').map(Number);
    expect(ids.slice(0, 3)).toEqual([3, 17, 42]);
    expect(ids).toHaveLength(8);
    const sampled = [
      'generate',
      '--model',
      fixtureDir('gpt2-tiny'),
      '--ids',
      '3,17',
      '--tokens',
      '6',
      '--temperature',
      '1.5',
      '--top-k',
      '10',
      '--seed',
      '4',
    ];
    const a = await tide(...sampled);
    const b = await tide(...sampled);
    expect(a.out).toEqual(b.out);
    const text = await tide('generate', '--model', DEFAULT_MODEL_DIR, '--prompt', 'Hello', '--tokens', '4');
    expect(text.out[0]!.startsWith('Hello')).toBe(true);
    expect(text.out[0]).toHaveLength(9);
    const noTokenizer = await tide('generate', '--model', fixtureDir('gpt2-tiny'), '--prompt', 'hi');
    expect(noTokenizer.code).toBe(1);
    expect(noTokenizer.err[0]).toMatch(/pass token ids with --ids/);
  });

  it('inspect says how the checkpoint maps onto the continuous model', async () => {
    const r = await tide('inspect', '--model', fixtureDir('encoder-postln-relu'));
    expect(r.code).toBe(0);
    const text = r.out.join('\n');
    expect(text).toMatch(/PyTorch nn.TransformerEncoder, [\d,]+ parameters/);
    expect(text).toMatch(/d_ff = 24 \(lifted by zero-extension E\)/);
    expect(text).toMatch(/post-LN: Lie splitting, Δt = 1: .*semi-implicit, ReLU = P_\{S₂\}.*P₂\^\{ε\/4\}/);
  });

  it('run: the main job on the embedded default prints generated text and the refinement table', async () => {
    const report = join(work, 'report');
    const r = await tide('run', '--tokens', '8', '--backend', 'wasm', '--report', report);
    expect(r.code).toBe(0);
    const text = r.out.join('\n');
    expect(existsSync(join(report, 'index.html'))).toBe(true);
    expect(r.out[0]).toMatch(
      /^tide: engine wasm, attention plain up to 128 tokens, query-blocked beyond; model embedded default$/,
    );
    expect(text).toMatch(
      /measured orders on this model .*: lie -?[\d.]+, strang -?[\d.]+, heun -?[\d.]+, rk4 -?[\d.]+/,
    );
    expect(text).toMatch(/generated with the exact scheme/);
    expect(text).toMatch(/exact \(Lie, Δt = 1\)\s+0\.00e\+0\s+0\.00e\+0/);
    expect(text).toMatch(/RK4, 4 steps\/layer/);
    // Anytime depth beside the embedded continuous model: its continuum exists (issue criteria, its model card):
    // KL(reference ‖ RK4 with 4 steps per unit) < 0.01 and the orders of Lie, Strang and RK4 within ±0.3 of 1, 2, 4.
    const rk4 = /continuous\s+RK4, 4 steps\/unit\s+\S+\s+(\S+)/.exec(text);
    expect(Number(rk4?.[1])).toBeLessThan(0.01);
    const orders = /measured orders of the continuous model \([^)]*\): lie (\S+), strang (\S+), rk4 (\S+)/.exec(text);
    expect(orders, text).not.toBeNull();
    [1, 2, 4].forEach((p, i) => expect(Math.abs(Number.parseFloat(orders![i + 1]!) - p)).toBeLessThanOrEqual(0.3));
    // The image part: the embedded shapes ViT at its resolution (≥ 90 %, its model card) and at 1.5×.
    const trained = /32 × 32 \(4 × 4 patches\): accuracy ([\d.]+)% of 400/.exec(text);
    const finer = /48 × 48 \(6 × 6 patches\): accuracy ([\d.]+)% of 400 .*position embedding resampled/.exec(text);
    expect(Number(trained?.[1])).toBeGreaterThanOrEqual(90);
    expect(Number(finer?.[1])).toBeGreaterThanOrEqual(85); // 93.8 % in its model card
    expect(readFileSync(join(report, 'index.html'), 'utf8')).toMatch(/data-chart="image-kernels"/);
  });

  it('--help lists the commands', async () => {
    const r = await tide('--help');
    expect(r.code).toBe(0);
    expect(r.out.join('\n')).toMatch(/Commands:[\s\S]*forward \[options\][\s\S]*train \[options\]/);
    const forwardHelp = await tide('forward', '--help');
    expect(forwardHelp.code).toBe(0);
    expect(forwardHelp.out.join('\n')).toMatch(/--model <dir>[\s\S]*--steps-per-layer <k>[\s\S]*--backend <name>/);
  });

  it("the help lists exactly the library's schemes and backends", async () => {
    expect([...HELP_SCHEMES].sort()).toEqual([...SCHEME_NAMES].sort());
    expect([...HELP_BACKENDS].sort()).toEqual(['auto', ...BACKEND_NAMES].sort());
  });
});

describe('tide train', () => {
  it('tide train writes a checkpoint, reports progress, and refuses bad input in one line', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    const work = mkdtempSync(join(tmpdir(), 'tide-train-cli-'));
    const dataFile = fileURLToPath(new URL('../../../data/moby-dick.txt', import.meta.url));
    const dir = join(work, 'cli');
    const code = await runCli(
      [
        'train',
        '--data',
        dataFile,
        '--out',
        dir,
        '--steps',
        '4',
        '--batch',
        '2',
        '--context',
        '8',
        '--d-model',
        '8',
        '--heads',
        '2',
        '--layers',
        '1',
        '--eval-every',
        '2',
        '--backend',
        'cpu',
      ],
      io,
    );
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(out.join('\n')).toMatch(/tide train: 4\/4 loss [\d.]+ val [\d.]+ lr .* tok\/s/);
    expect(out.at(-1)).toMatch(/validation loss [\d.]+ \(nats\/char\); checkpoint in/);
    const trained = loadCheckpoint(dir);
    expect(trained.config.numLayers).toBe(1);
    trained.dispose();
    const bad = await runCli(['train', '--data', join(work, 'missing.txt'), '--out', dir], io);
    expect(bad).toBe(1);
    expect(err.at(-1)).toMatch(/missing\.txt: expected a UTF-8 text file to train on, received no such file/);
    rmSync(work, { recursive: true, force: true });
  });
});
