/**
 * The readout: from the state u(T) to the model's output, built in one place for forward solves, training
 * losses and studies. The final projection `P^ε` onto S₁ at t = T with its affine map (GPT-2's `ln_f`, an
 * encoder's `norm`), when the model has one; then, for language models, the LM head `logits = h · Wᵀ` tied to
 * the token embedding (or an untied `lm_head`) (paper §2; docs/projections.md).
 */
import { tf } from '@tide/backend';
import type { Field } from '@tide/domain';
import { AffineStep, LayerNormConstraint } from '@tide/normalization';
import { InputError } from './errors.js';
import type { TransformerModel } from './model.js';

/** `[B, N, d]` final hidden states → logits `[B, N, V]` (tied to the token embedding unless the checkpoint has `lm_head`). */
export function languageModelHead(model: TransformerModel, h: tf.Tensor3D): tf.Tensor3D {
  const emb = model.parameters.embeddings;
  if (emb === undefined)
    throw new InputError('readout', {
      expected: 'a model with an LM head (GPT-2)',
      received: `a ${model.config.layout} model`,
      fix: 'encoders return hidden states',
    });
  if (!(h instanceof tf.Tensor) || h.rank !== 3 || h.shape[2] !== model.config.dModel)
    throw new InputError('readout', {
      expected: `hidden states [B, N, ${model.config.dModel}]`,
      received: String(h?.shape),
      fix: 'pass the final state of the solve',
    });
  return tf.tidy(() => {
    const [b, n, d] = h.shape;
    return tf.reshape(tf.matMul(tf.reshape(h, [b * n, d]), emb.head ?? emb.tokens, false, true), [
      b,
      n,
      -1,
    ]) as tf.Tensor3D; // [B, N, V]
  });
}

/**
 * The readout of a model at time `t1` (its depth): `u ↦ head(affine(P^ε(u)))`, each part present only when the
 * model has it. The returned tensor `[B, N, d]` or `[B, N, V]` is new (the caller owns it); `u` is kept.
 */
export function modelReadout(model: TransformerModel, t1: number): (u: Field) => tf.Tensor3D {
  const finalNorm = model.parameters.finalNorm;
  const projection = finalNorm && new LayerNormConstraint({ epsilon: model.config.epsilon }, 'final-norm');
  const affine = finalNorm && new AffineStep(finalNorm.gamma, finalNorm.beta, 'final-affine');
  const language = model.parameters.embeddings !== undefined;
  return (u) =>
    tf.tidy(() => {
      const h = projection && affine ? affine.apply(projection.project(u, t1), t1).values : (u.values as tf.Tensor3D); // [B, N, d]
      if (language) return languageModelHead(model, h as tf.Tensor3D); // [B, N, V]
      return h === u.values ? tf.clone(h as tf.Tensor3D) : (h as tf.Tensor3D);
    });
}
