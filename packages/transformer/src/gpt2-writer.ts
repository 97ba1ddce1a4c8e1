/**
 * Saving a model in the HF GPT-2 layout of SPEC §4 (`config.json` + `model.safetensors`, Conv1D `[in, out]`
 * weights, `c_attn` = Q | K | V), so that PyTorch and HF code can load what TIDE trained. Schemes GPT-2 cannot
 * express are recorded under `"tide"` in config.json.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '@tide/backend';
import { CheckpointError } from './errors.js';
import type { TransformerModel } from './model.js';
import { writeSafetensors, type TensorToWrite } from './safetensors.js';

function f32(t: tf.Tensor): TensorToWrite {
  return { dtype: 'F32', shape: t.shape, data: t.dataSync() as Float32Array };
}

/** The HF GPT-2 state dict of a GPT-2-family model. */
export function gpt2StateDict(model: TransformerModel): Record<string, TensorToWrite> {
  const emb = model.embeddings;
  if (model.config.family !== 'gpt2' || emb === undefined || model.finalNorm === undefined) {
    throw new CheckpointError('gpt2StateDict', { expected: 'a GPT-2-family model (embeddings and a final norm)', received: `a ${model.config.family} model`, fix: 'only language models are saved in the GPT-2 layout' });
  }
  const out: Record<string, TensorToWrite> = { 'wte.weight': f32(emb.tokens), 'wpe.weight': f32(emb.positions) };
  model.layers.forEach((l, i) => {
    const a = l.attention;
    tf.tidy(() => {
      out[`h.${i}.ln_1.weight`] = f32(l.norm1.gamma);
      out[`h.${i}.ln_1.bias`] = f32(l.norm1.beta);
      out[`h.${i}.attn.c_attn.weight`] = f32(tf.concat([a.wq, a.wk, a.wv], 1));
      out[`h.${i}.attn.c_attn.bias`] = f32(tf.concat([a.bq!, a.bk!, a.bv!]));
      out[`h.${i}.attn.c_proj.weight`] = f32(a.wo);
      out[`h.${i}.attn.c_proj.bias`] = f32(a.bo!);
      out[`h.${i}.ln_2.weight`] = f32(l.norm2.gamma);
      out[`h.${i}.ln_2.bias`] = f32(l.norm2.beta);
      out[`h.${i}.mlp.c_fc.weight`] = f32(l.w1);
      out[`h.${i}.mlp.c_fc.bias`] = f32(l.b1);
      out[`h.${i}.mlp.c_proj.weight`] = f32(l.w2);
      out[`h.${i}.mlp.c_proj.bias`] = f32(l.b2);
    });
  });
  out['ln_f.weight'] = f32(model.finalNorm.gamma);
  out['ln_f.bias'] = f32(model.finalNorm.beta);
  if (emb.head) out['lm_head.weight'] = f32(emb.head);
  return out;
}

/** The HF GPT-2 config.json of a model, plus TIDE's own fields. */
export function gpt2Config(model: TransformerModel, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const c = model.config;
  return {
    model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], n_embd: c.dModel, n_head: c.heads, n_layer: c.layers,
    n_positions: c.positions, n_ctx: c.positions, n_inner: c.dFeedforward, vocab_size: c.vocabSize,
    layer_norm_epsilon: c.epsilon, activation_function: c.activation === 'gelu' ? 'gelu' : 'gelu_new',
    ...(c.tokenizer?.type === 'chars' && { tide_tokenizer: { type: 'chars', alphabet: c.tokenizer.alphabet } }),
    ...extra,
  };
}

/** Writes `dir/config.json` and `dir/model.safetensors` (each atomically). */
export function saveGpt2Checkpoint(model: TransformerModel, dir: string, extra: Record<string, unknown> = {}): void {
  mkdirSync(dir, { recursive: true });
  const write = (name: string, data: string | Uint8Array) => {
    const tmp = join(dir, `.${name}.partial`);
    writeFileSync(tmp, data);
    renameSync(tmp, join(dir, name));
  };
  write('model.safetensors', writeSafetensors(gpt2StateDict(model), { format: 'pt', generator: 'tide train' }));
  write('config.json', `${JSON.stringify(gpt2Config(model, extra), null, 2)}\n`);
}
