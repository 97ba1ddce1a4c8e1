/**
 * The discrete network written the ordinary way (nanoGPT-style), independently of the operators and solvers:
 * `LN(u + MHA(u))`, `LN(u + FFN(u))` for post-LN encoders; `u + MHA(LN(u))`, `u + FFN(LN(u))` for pre-LN
 * (GPT-2); final norm; LM head. It is the reference the recovery theorem is checked against, and the
 * "plain tfjs" peer of the benchmarks.
 */
import { tf } from '@tide/backend';
import { DiscretisationError } from './errors.js';
import type { Activation, LayerParameters, TransformerModel } from './model.js';

function layerNorm(x: tf.Tensor3D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor3D {
  const { mean, variance } = tf.moments(x, -1, true); // [B, N, 1]
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), gamma), beta) as tf.Tensor3D;
}

function linear(x: tf.Tensor3D, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor3D {
  const [bs, n, d] = x.shape;
  const y = tf.matMul(tf.reshape(x, [bs * n, d]), w); // [B·N, out]
  return tf.reshape(b ? tf.add(y, b) : y, [bs, n, w.shape[1]]) as tf.Tensor3D; // [B, N, out]
}

function selfAttention(
  x: tf.Tensor3D,
  l: LayerParameters,
  heads: number,
  causal: boolean,
  keep?: tf.Tensor2D,
): tf.Tensor3D {
  const [b, n, d] = x.shape;
  const dk = d / heads;
  const split = (t: tf.Tensor3D) => tf.transpose(tf.reshape(t, [b, n, heads, dk]), [0, 2, 1, 3]); // [B, H, N, dk]
  const q = split(linear(x, l.attention.wq, l.attention.bq!));
  const k = split(linear(x, l.attention.wk, l.attention.bk!));
  const v = split(linear(x, l.attention.wv, l.attention.bv!));
  let scores = tf.div(tf.matMul(q, k, false, true), Math.sqrt(dk)); // [B, H, N, N]
  if (causal) scores = tf.add(scores, tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([n, n]), -1, 0)), -1e9));
  if (keep) scores = tf.add(scores, tf.reshape(tf.mul(tf.sub(1, keep), -1e9), [b, 1, 1, n]));
  const ctx = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores), v), [0, 2, 1, 3]), [b, n, d]) as tf.Tensor3D; // [B, N, d]
  return linear(ctx, l.attention.wo, l.attention.bo!);
}

function mlp(x: tf.Tensor3D, l: LayerParameters, act: Activation): tf.Tensor3D {
  const h = linear(x, l.feedforward.w1, l.feedforward.b1);
  const a =
    act === 'relu'
      ? tf.relu(h)
      : act === 'gelu'
        ? tf.mul(tf.mul(h, 0.5), tf.add(1, tf.erf(tf.div(h, Math.SQRT2))))
        : tf.mul(
            tf.mul(h, 0.5),
            tf.add(1, tf.tanh(tf.mul(tf.add(h, tf.mul(tf.pow(h, 3), 0.044715)), Math.sqrt(2 / Math.PI)))),
          );
  return linear(a as tf.Tensor3D, l.feedforward.w2, l.feedforward.b2);
}

/**
 * Runs the plain layer stack: encoders from hidden states `[B, N, d]` (optional `keep` `[B, N]`, 1 = token,
 * 0 = padding), GPT-2 from ids `[B, N]`. Returns hidden states or logits (caller owns them).
 */
export function plainLayerStack(
  model: TransformerModel,
  input: { input?: tf.Tensor3D; inputIds?: tf.Tensor2D; keep?: tf.Tensor2D },
): tf.Tensor3D {
  const cfg = model.config;
  if (cfg.controls !== undefined)
    throw new DiscretisationError('plainLayerStack', {
      expected: 'a discrete network (one parameter set per layer)',
      received: `a model with smooth controls (${cfg.controls.coefficients} Legendre coefficient sets)`,
      fix: 'a smooth-control model has no layers to stack: solve it with forward(model, input, { scheme: "rk4", stepsPerLayer })',
    });
  const { layers, finalNorm, embeddings } = model.parameters;
  return tf.tidy(() => {
    let u: tf.Tensor3D;
    if (embeddings) {
      const n = input.inputIds!.shape[1];
      u = tf.add(
        tf.gather(embeddings.tokens, input.inputIds!),
        tf.slice(embeddings.positions, [0, 0], [n, -1]),
      ) as tf.Tensor3D; // [B, N, d]
    } else {
      u = input.input!;
    }
    for (const l of layers) {
      if (cfg.normFirst) {
        u = tf.add(
          u,
          selfAttention(layerNorm(u, l.norm1.gamma, l.norm1.beta, cfg.epsilon), l, cfg.heads, cfg.causal, input.keep),
        ) as tf.Tensor3D;
        u = tf.add(u, mlp(layerNorm(u, l.norm2.gamma, l.norm2.beta, cfg.epsilon), l, cfg.activation)) as tf.Tensor3D;
      } else {
        u = layerNorm(
          tf.add(u, selfAttention(u, l, cfg.heads, cfg.causal, input.keep)) as tf.Tensor3D,
          l.norm1.gamma,
          l.norm1.beta,
          cfg.epsilon,
        );
        u = layerNorm(tf.add(u, mlp(u, l, cfg.activation)) as tf.Tensor3D, l.norm2.gamma, l.norm2.beta, cfg.epsilon);
      }
    }
    if (finalNorm) u = layerNorm(u, finalNorm.gamma, finalNorm.beta, cfg.epsilon);
    if (!embeddings) return u === input.input ? tf.clone(u) : u;
    const [b, n, d] = u.shape;
    return tf.reshape(tf.matMul(tf.reshape(u, [b * n, d]), embeddings.head ?? embeddings.tokens, false, true), [
      b,
      n,
      -1,
    ]) as tf.Tensor3D; // [B, N, V]
  });
}
