// A user composes a pre-LN Transformer from the operator packages alone — PyTorch importers per operator, the
// pre-norm rate, the feed-forward rate, Lie splitting — and reproduces PyTorch's nn.TransformerEncoder
// (docs/splitting-and-recovery.md). Nothing of this package is used: it checks that the operator layer suffices.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { expectNoLeaks } from '@tide/backend/testing';
import { IntegralAttention, fromTorchMultiheadAttention } from '@tide/attention';
import { field } from '@tide/domain';
import { feedforwardRate, fromTorchFeedforward } from '@tide/feedforward';
import { fixtureDir, fixtureIO, parityTolerance } from '@tide/fixtures';
import { readSafetensors } from '@tide/formats';
import { affineStep, layerNormConstraint, preNormRate } from '@tide/normalization';
import { explicitStep, lieSplitting, piecewiseConstant, solve } from '@tide/solvers';

it('a pre-LN encoder built from the operator packages equals PyTorch (padding masked out)', async () => {
  const name = 'encoder-preln-gelu';
  const cfg = JSON.parse(readFileSync(join(fixtureDir(name), 'config.json'), 'utf8'));
  const file = readSafetensors(new Uint8Array(readFileSync(join(fixtureDir(name), 'model.safetensors'))), name);
  const io = fixtureIO(name);
  await expectNoLeaks(() => {
    const made: tf.Tensor[] = [];
    const t = <T extends tf.Tensor>(key: string): T => {
      const e = file.tensors.get(key)!;
      const x = tf.tensor(e.data as Float32Array, [...e.shape]);
      made.push(x);
      return x as T;
    };
    const ln = layerNormConstraint({ epsilon: cfg.layer_norm_eps });
    const attention = [];
    const feedforward = [];
    for (let i = 0; i < cfg.num_layers; i++) {
      const p = `layers.${i}.`;
      const mha = fromTorchMultiheadAttention({
        inProjWeight: t<tf.Tensor2D>(`${p}self_attn.in_proj_weight`),
        inProjBias: t<tf.Tensor1D>(`${p}self_attn.in_proj_bias`),
        outProjWeight: t<tf.Tensor2D>(`${p}self_attn.out_proj.weight`),
        outProjBias: t<tf.Tensor1D>(`${p}self_attn.out_proj.bias`),
      });
      const ffn = fromTorchFeedforward({
        linear1Weight: t<tf.Tensor2D>(`${p}linear1.weight`),
        linear1Bias: t<tf.Tensor1D>(`${p}linear1.bias`),
        linear2Weight: t<tf.Tensor2D>(`${p}linear2.weight`),
        linear2Bias: t<tf.Tensor1D>(`${p}linear2.bias`),
      });
      made.push(...Object.values(mha), ...Object.values(ffn));
      attention.push(
        preNormRate(
          ln,
          affineStep(t<tf.Tensor1D>(`${p}norm1.weight`), t<tf.Tensor1D>(`${p}norm1.bias`)),
          new IntegralAttention(mha, { heads: cfg.nhead, causal: cfg.causal }),
        ),
      );
      feedforward.push(
        preNormRate(
          ln,
          affineStep(t<tf.Tensor1D>(`${p}norm2.weight`), t<tf.Tensor1D>(`${p}norm2.bias`)),
          feedforwardRate(ffn, 'gelu-erf'),
        ),
      );
    }
    const u0 = field(tf.clone(io.input!), io.tokenWeights ? { tokenWeights: io.tokenWeights } : {});
    const sol = solve(
      u0,
      lieSplitting([explicitStep(piecewiseConstant(attention)), explicitStep(piecewiseConstant(feedforward))]),
      { t1: cfg.num_layers },
    );
    const projected = cfg.final_norm ? ln.project(sol.u, cfg.num_layers) : sol.u; // the final projection at t = T
    const out = cfg.final_norm
      ? affineStep(t<tf.Tensor1D>('norm.weight'), t<tf.Tensor1D>('norm.bias')).apply(projected, cfg.num_layers)
      : sol.u;
    const worst = tf.tidy(() => {
      const keep = io.tokenWeights
        ? tf.expandDims(tf.cast(tf.greater(tf.tensor2d(io.tokenWeights), 0), 'float32'), -1)
        : tf.scalar(1); // [B, N, 1]
      return tf.max(tf.mul(tf.abs(tf.sub(out.values, io.output)), keep)).dataSync()[0]!;
    });
    expect(worst).toBeLessThanOrEqual(parityTolerance(io.output));
    tf.dispose(made);
    [u0, sol.u, projected, out].forEach((f) => f.dispose());
  });
  io.dispose();
});
