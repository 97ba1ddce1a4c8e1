// `tide train` for the continuum: --controls, --init-from, --schemes, --fine/--fine-weight, --control-energy wired to
// @tide/train; a checkpoint in the smooth-controls layout; bad options refused in one line with exit 2.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '@tide/transformer/node';
import { runCli } from './cli.js';

const work = mkdtempSync(join(tmpdir(), 'tide-train-controls-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const data = fileURLToPath(new URL('../../../data/moby-dick.txt', import.meta.url));

async function tide(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

const small = ['--steps', '2', '--batch', '2', '--context', '8', '--d-model', '8', '--heads', '2', '--layers', '2'];
const quick = ['--eval-every', '2', '--backend', 'cpu'];

describe('tide train: smooth controls and training for the continuum', () => {
  it('trains smooth controls with schemes drawn per batch, a fine solve and the control energy; writes tide_controls', async () => {
    const dir = join(work, 'smooth');
    const r = await tide(
      'train',
      '--data',
      data,
      '--out',
      dir,
      ...small,
      ...quick,
      '--controls',
      'legendre:3',
      '--schemes',
      'rk4:1, heun:2',
      '--fine',
      'rk4:2',
      '--fine-weight',
      '0.5',
      '--control-energy',
      '0.01',
    );
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(
      /schemes rk4:1, heun:2 \(one per batch\); smooth controls, 3 Legendre coefficients; fine rk4:2 × 0\.5$/,
    );
    expect(r.out.join('\n')).toMatch(/tide train: 2\/2 loss [\d.]+ val [\d.]+ kl [\d.]+ energy [\d.e+-]+ lr /);
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(cfg.tide_controls).toEqual({ basis: 'legendre', coefficients: 3 });
    expect(cfg.tide).toMatchObject({ scheme: 'rk4', stepsPerLayer: 1, schemes: ['rk4:1', 'heun:2'], fine: 'rk4:2' });
    const model = loadCheckpoint(dir);
    expect(model.parameters.layers).toHaveLength(3);
    expect(model.config.numLayers).toBe(2);
    model.dispose();

    // tide run studies it beside the default model (anytime depth), on held-out text put beside it.
    writeFileSync(
      join(dir, 'heldout.txt'),
      readFileSync(data, 'utf8')
        .slice(-2000)
        .replace(/[^\x20-\x7e\n]/g, ' '),
    );
    const report = join(work, 'depth-report');
    const run = await tide('run', '--tokens', '4', '--backend', 'cpu', '--continuous-model', dir, '--report', report);
    expect(run.err).toEqual([]);
    expect(run.code).toBe(0);
    const text = run.out.join('\n');
    expect(text).toMatch(/anytime depth:[\s\S]*continuous\s+RK4, 4 steps\/unit/);
    expect(text).toMatch(
      /measured orders of the continuous model \(logits[^)]*\): lie -?[\d.]+, strang -?[\d.]+, rk4 -?[\d.]+/,
    );
    expect(text).toMatch(
      /held-out loss \(nats\/char\): default model, exact scheme [\d.]+; continuous model 1 step\(s\)\/unit/,
    );
    const html = readFileSync(join(report, 'index.html'), 'utf8');
    expect(html).toMatch(/data-chart="continuum"[\s\S]*data-chart="anytime"/);
    // Without held-out text: one line naming the file and the fix.
    rmSync(join(dir, 'heldout.txt'));
    const missing = await tide(
      'run',
      '--tokens',
      '2',
      '--backend',
      'cpu',
      '--continuous-model',
      dir,
      '--report',
      report,
    );
    expect(missing.code).not.toBe(0);
    expect(missing.err).toHaveLength(1);
    expect(missing.err[0]).toMatch(/heldout\.txt/);
  });

  it('--init-from takes its sizes from the checkpoint; with --controls legendre:L the coefficients interpolate the layers', async () => {
    const discrete = join(work, 'discrete');
    expect((await tide('train', '--data', data, '--out', discrete, ...small, ...quick)).code).toBe(0);
    const dir = join(work, 'warm');
    const r = await tide(
      'train',
      '--data',
      data,
      '--out',
      dir,
      '--steps',
      '2',
      '--batch',
      '2',
      ...quick,
      '--init-from',
      discrete,
      '--controls',
      'legendre:2',
    );
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(
      /rk4 scheme, 1 step\(s\) per layer; smooth controls, 2 Legendre coefficients; warm start from /,
    );
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({ n_embd: 8, n_layer: 2, n_positions: 8, tide_controls: { coefficients: 2 } });
  });

  it('refuses bad options in one line: exit 2 for usage, exit 1 for a missing --init-from folder', async () => {
    const base = ['train', '--data', data, '--out', join(work, 'bad'), ...small, ...quick];
    const cases: [string[], number, RegExp][] = [
      [
        ['--controls', 'legendre'],
        2,
        /^tide: option '--controls <basis:K>' argument 'legendre' is invalid\. expected legendre:K, e\.g\. legendre:4, received "legendre"$/,
      ],
      [
        ['--controls', 'legendre:0'],
        2,
        /^tide: train: controls: expected \{ basis: 'legendre', coefficients: K \} with K an integer from 1 to 64, received "legendre":0\. Fix: pass --controls legendre:K/,
      ],
      [['--controls', 'spline:3'], 2, /^tide: train: controls: expected .*received "spline":3/],
      [['--controls', 'legendre:65'], 2, /^tide: train: controls: .*received "legendre":65/],
      [
        ['--schemes', 'rk4:1,bogus'],
        2,
        /^tide: option '--schemes <list>' argument 'rk4:1,bogus' is invalid\. expected scheme:k, e\.g\. rk4:2, received "bogus"$/,
      ],
      [
        ['--schemes', 'rk9:1'],
        2,
        /^tide: train: --schemes rk9:1: scheme: expected one of exact, lie, strang, euler, heun, rk4, dopri5, bosh3, received "rk9"/,
      ],
      [
        ['--schemes', 'rk4:1', '--scheme', 'lie'],
        2,
        /^tide: train: schemes: expected either schemes or scheme \/ stepsPerLayer/,
      ],
      [['--fine', 'rk4:4'], 2, /^tide: train: --fine: expected a --fine-weight w > 0 with --fine/],
      [
        ['--fine-weight', '-1'],
        2,
        /^tide: option '--fine-weight <w>' argument '-1' is invalid\. expected a number ≥ 0/,
      ],
      [
        ['--control-energy', '1'],
        2,
        /^tide: train: --control-energy: expected smooth controls .*Fix: pass --controls legendre:K with --control-energy$/,
      ],
      [
        ['--controls', 'legendre:2', '--scheme', 'exact'],
        2,
        /^tide: train: --scheme exact:1: scheme exact: expected a time-stepping scheme for smooth controls .*Fix: use --scheme rk4/,
      ],
      [['--controls', 'legendre:2', '--norm-first', 'false'], 2, /^tide: train: controls: expected pre-LN layers/],
      [
        ['--init-from', join(work, 'discrete'), '--d-model', '16'],
        2,
        /^tide: train: --init-from .*: expected the sizes of the model to train \(n_embd 16, n_inner 64\), received n_embd 8, n_inner 32/,
      ],
      [
        ['--init-from', join(work, 'nowhere')],
        1,
        /^tide: .*nowhere: expected a model folder \(config\.json \+ model\.safetensors\), received no such folder/,
      ],
    ];
    for (const [extra, code, message] of cases) {
      const r = await tide(...base, ...extra);
      expect(r.code, extra.join(' ')).toBe(code);
      expect(r.err, extra.join(' ')).toHaveLength(1);
      expect(r.err[0]).toMatch(message);
    }
  });

  it('the help lists the new flags', async () => {
    const r = await tide('train', '--help');
    const help = r.out.join('\n');
    for (const flag of [
      '--controls <basis:K>',
      '--init-from <dir>',
      '--schemes <list>',
      '--fine <scheme:k>',
      '--fine-weight <w>',
      '--control-energy <λ>',
    ])
      expect(help).toContain(flag);
  });
});
