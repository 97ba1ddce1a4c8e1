/**
 * The two-layer feedforward rate (paper §3–§4; docs/feedforward.md): two feature-integral transforms with an
 * activation between them, read as one smooth rate,
 *
 *     F(u)(x, y) = ∫_{Ω_h} W₂(η, y) σ(∫_{Ω_y} W₁(ξ, η) u(x, ξ) dξ + b₁(η)) dη + b₂(y),
 *
 * discretised with the feature weights folded into the kernels: `F(u) = σ(u W₁ + b₁) W₂ + b₂` per token.
 * This is the FFN of the pre-LN block `u + FFN(LN(u))`; the post-LN splitting instead takes the two layers as
 * separate increments around a projection (ReLU) or a pointwise step (GELU) (docs/splitting-and-recovery.md).
 */
import { tf, describeValue, formatShape } from '@tide/backend';
import { DomainError, ShapeError, checkField, type Field, type HasParameters, type VectorField } from '@tide/domain';
import { gelu } from './activations.js';
import { fromTorchLinear } from './feature-transform.js';

/**
 * The activation σ between the two layers: `'relu'`; `'gelu-erf'`, the exact GELU (PyTorch's default,
 * Hugging Face `'gelu'`); `'gelu-tanh'`, its tanh form (GPT-2's `'gelu_new'`). The names are the labels of
 * {@link GeluStep}: `gelu-${GeluForm}`.
 */
export type FeedforwardActivation = 'relu' | 'gelu-erf' | 'gelu-tanh';

const ACTIVATIONS: readonly FeedforwardActivation[] = ['relu', 'gelu-erf', 'gelu-tanh'];

/** The standard kernels (acting on the right, `[in, out]`) and biases of a two-layer FFN. Held by the caller. */
export interface FeedforwardParameters {
  /** `[d, d_ff]`. */
  readonly w1: tf.Tensor2D;
  /** `[d_ff]` (optional: a `Linear` without bias). */
  readonly b1?: tf.Tensor1D;
  /** `[d_ff, d]`. */
  readonly w2: tf.Tensor2D;
  /** `[d]` (optional). */
  readonly b2?: tf.Tensor1D;
}

/** The sizes read off checked parameters. */
interface FeedforwardSizes {
  readonly features: number;
  readonly hidden: number;
}

function checkParameters(subject: string, params: FeedforwardParameters): FeedforwardSizes {
  if (typeof params !== 'object' || params === null) {
    throw new ShapeError(subject, {
      expected: 'an object { w1 [d, d_ff], b1? [d_ff], w2 [d_ff, d], b2? [d] }',
      received: describeValue(params),
      fix: 'pass the two kernels (and biases) as tensors',
    });
  }
  const shapeOf = (t: unknown) => (t instanceof tf.Tensor ? formatShape(t.shape) : describeValue(t));
  const all = `w1 ${shapeOf(params.w1)}, b1 ${shapeOf(params.b1)}, w2 ${shapeOf(params.w2)}, b2 ${shapeOf(params.b2)}`;
  for (const name of ['w1', 'w2'] as const) {
    const w = params[name];
    if (!(w instanceof tf.Tensor) || w.rank !== 2) {
      throw new ShapeError(`${subject}: ${name}`, {
        expected: 'a 2-D kernel [in, out]',
        received: `${describeValue(w)} (${all})`,
        fix: `pass ${name} as tf.tensor2d(...); transpose PyTorch Linear weights [out, in] (fromTorchFeedforward)`,
      });
    }
  }
  const [d, dff] = params.w1.shape;
  if (params.w2.shape[0] !== dff || params.w2.shape[1] !== d) {
    throw new ShapeError(subject, {
      expected: `w2 of shape [d_ff, d] = [${dff}, ${d}] for w1 [d, d_ff] = [${d}, ${dff}]`,
      received: all,
      fix: 'the second layer maps the hidden width back to the features; transpose PyTorch [out, in] weights',
    });
  }
  checkBiases(
    subject,
    [
      ['b1', params.b1, dff],
      ['b2', params.b2, d],
    ],
    all,
  );
  return { features: d, hidden: dff };
}

/** Throws a {@link ShapeError} unless each present bias is 1-D of its width. */
function checkBiases(subject: string, biases: readonly (readonly [string, unknown, number])[], all: string): void {
  for (const [name, b, width] of biases) {
    if (b !== undefined && (!(b instanceof tf.Tensor) || b.rank !== 1 || b.shape[0] !== width)) {
      throw new ShapeError(`${subject}: ${name}`, {
        expected: `a 1-D bias [${width}]`,
        received: all,
        fix: 'one bias value per output feature of its layer',
      });
    }
  }
}

function checkActivation(subject: string, activation: unknown): FeedforwardActivation {
  if (!(ACTIVATIONS as readonly unknown[]).includes(activation)) {
    const hint =
      activation === 'gelu'
        ? " ('gelu' is 'gelu-erf')"
        : activation === 'gelu_new'
          ? " ('gelu_new' is 'gelu-tanh')"
          : '';
    throw new DomainError(`${subject}: activation`, {
      expected: `one of ${ACTIVATIONS.map((a) => `'${a}'`).join(', ')}`,
      received: `${describeValue(activation)}${hint}`,
      fix: "Hugging Face's 'gelu' is 'gelu-erf' and GPT-2's 'gelu_new' is 'gelu-tanh'",
    });
  }
  return activation as FeedforwardActivation;
}

/**
 * `F(u) = σ(u W₁ + b₁) W₂ + b₂` as a {@link VectorField} (fixed controls; a θ(t) uses one instance per
 * piece). Keeps the input's grids; holds (does not own) its tensors.
 */
export class FeedforwardRate implements VectorField, HasParameters {
  readonly kind = 'vector-field' as const;
  readonly label: string;
  readonly params: FeedforwardParameters;
  readonly activation: FeedforwardActivation;
  /** d, the width of the state, and d_ff, the hidden width. */
  readonly features: number;
  readonly hidden: number;

  constructor(params: FeedforwardParameters, activation: FeedforwardActivation, label = 'feedforward') {
    const { features, hidden } = checkParameters('feedforwardRate', params);
    this.activation = checkActivation('feedforwardRate', activation);
    this.params = params;
    this.features = features;
    this.hidden = hidden;
    this.label = label;
  }

  /** `σ(u W₁ + b₁) W₂ + b₂`: `[B, N_x, d] → [B, N_x, d]`, one surviving tensor. */
  evaluate(u: Field, _t: number): Field {
    checkField(`${this.label}.evaluate`, u);
    if (u.features !== this.features) {
      throw new ShapeError(`${this.label}.evaluate`, {
        expected: `a field with ${this.features} features (the rows of w1)`,
        received: formatShape(u.values.shape),
        fix: "build the rate for the field's feature count",
      });
    }
    const { w1, b1, w2, b2 } = this.params;
    const values = tf.tidy(() => {
      const [b, n, d] = u.values.shape;
      const x = tf.reshape(u.values, [b * n, d]); // [B·N_x, d]
      const z = b1 === undefined ? tf.matMul(x, w1) : tf.add(tf.matMul(x, w1), b1); // [B·N_x, d_ff]
      const h = this.activation === 'relu' ? tf.relu(z) : gelu(z, this.activation === 'gelu-erf' ? 'erf' : 'tanh'); // [B·N_x, d_ff]
      const y = b2 === undefined ? tf.matMul(h, w2) : tf.add(tf.matMul(h, w2), b2); // [B·N_x, d]
      return tf.reshape(y, [b, n, d]) as tf.Tensor3D; // [B, N_x, d]
    });
    return u.withValues(values);
  }

  parameters(): readonly tf.Variable[] {
    return Object.values(this.params).filter((p): p is tf.Variable => p instanceof tf.Variable);
  }
}

/**
 * The two-layer feedforward rate `F(u) = σ(u W₁ + b₁) W₂ + b₂` (paper §3–§4; docs/feedforward.md).
 *
 * Shapes: `u: [B, N_x, d] → [B, N_x, d]`, with `w1: [d, d_ff]`, `b1: [d_ff]`, `w2: [d_ff, d]`, `b2: [d]`
 * (standard kernels acting on the right; see {@link fromTorchFeedforward} for PyTorch weights). Use it
 * as the inner rate of a pre-norm block (`preNormRate` of `@tide/normalization`) or as a term of any scheme.
 *
 * @param activation σ: `'relu'`, `'gelu-erf'` or `'gelu-tanh'` (see {@link FeedforwardActivation})
 * @throws ShapeError when the kernels or biases do not fit together; DomainError for an unknown activation
 */
export function feedforwardRate(
  params: FeedforwardParameters,
  activation: FeedforwardActivation,
  label?: string,
): FeedforwardRate {
  return new FeedforwardRate(params, activation, label);
}

/** A PyTorch FFN's two `nn.Linear` layers as stored in a state dict (`[out, in]` weights). */
export interface TorchFeedforward {
  /** `linear1.weight`: `[d_ff, d]`. */
  readonly linear1Weight: tf.Tensor2D;
  /** `linear1.bias`: `[d_ff]`. */
  readonly linear1Bias?: tf.Tensor1D;
  /** `linear2.weight`: `[d, d_ff]`. */
  readonly linear2Weight: tf.Tensor2D;
  /** `linear2.bias`: `[d]`. */
  readonly linear2Bias?: tf.Tensor1D;
}

/**
 * PyTorch's `linear2(σ(linear1(u)))` (e.g. `nn.TransformerEncoderLayer`'s FFN) as {@link FeedforwardParameters}:
 * `w1 = linear1.weightᵀ [d, d_ff]`, `w2 = linear2.weightᵀ [d_ff, d]`, biases copied. Every returned tensor is
 * new and owned by the caller; the inputs are kept.
 *
 * @throws ShapeError when the weights are not `[d_ff, d]` and `[d, d_ff]` or a bias does not fit its layer
 */
export function fromTorchFeedforward(torch: TorchFeedforward): FeedforwardParameters {
  if (typeof torch !== 'object' || torch === null) {
    throw new ShapeError('fromTorchFeedforward', {
      expected: 'an object { linear1Weight, linear1Bias?, linear2Weight, linear2Bias? }',
      received: describeValue(torch),
      fix: 'pass the state dict entries linear1.weight, linear1.bias, linear2.weight, linear2.bias',
    });
  }
  const { linear1Weight, linear1Bias, linear2Weight, linear2Bias } = torch;
  const all = [
    ['linear1Weight', linear1Weight],
    ['linear1Bias', linear1Bias],
    ['linear2Weight', linear2Weight],
    ['linear2Bias', linear2Bias],
  ]
    .map(([name, t]) => `${name} ${t instanceof tf.Tensor ? formatShape(t.shape) : describeValue(t)}`)
    .join(', ');
  const rows = (t: unknown) => (t instanceof tf.Tensor && t.rank === 2 ? t.shape : undefined);
  const w1 = rows(linear1Weight);
  const w2 = rows(linear2Weight);
  if (w1 === undefined || w2 === undefined || w2[0] !== w1[1] || w2[1] !== w1[0]) {
    throw new ShapeError('fromTorchFeedforward', {
      expected: 'linear1Weight [d_ff, d] and linear2Weight [d, d_ff] (PyTorch Linear [out, in])',
      received: all,
      fix: 'pass the state dict weights untransposed; for kernels already [in, out] build FeedforwardParameters directly',
    });
  }
  checkBiases(
    'fromTorchFeedforward',
    [
      ['linear1Bias', linear1Bias, w1[0]!],
      ['linear2Bias', linear2Bias, w1[1]!],
    ],
    all,
  );
  return {
    w1: fromTorchLinear(linear1Weight), // [d, d_ff]
    w2: fromTorchLinear(linear2Weight), // [d_ff, d]
    ...(linear1Bias !== undefined && { b1: tf.clone(linear1Bias) }), // [d_ff]
    ...(linear2Bias !== undefined && { b2: tf.clone(linear2Bias) }), // [d]
  };
}
