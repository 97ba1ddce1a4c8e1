/**
 * The feature-integral transform (paper §3): `W[u](x, y) + b(y) = ∫_{Ω_y} W(ξ, y) u(x, ξ) dξ + b(y)`, acting
 * per token. Discretised with the feature weights folded into the kernel (docs/domains-and-quadrature.md) it is `u W + b` with
 * `W: [d_in, d_out]`, `b: [d_out]`; the output may live on a larger (lifted) or smaller feature domain.
 *
 * The paper writes a residual network's standard kernel as `W^std = I + W`: the transform is a time-step
 * *increment*. {@link toIncrement} / {@link fromIncrement} convert between the two; with d_in ≠ d_out the
 * identity is the embedding J (E or R = Eᵀ, see `lift.ts`), so `J u + Δt·(u W + b)` with Δt = 1 is
 * `u W^std + b`.
 */
import { tf, describeValue, formatShape } from '@tide/backend';
import {
  ShapeError,
  checkField,
  featureGrid as unitFeatureGrid,
  type Field,
  type HasParameters,
  type VectorField,
} from '@tide/domain';
import { embedFeatures } from './lift.js';

/** Checks a kernel `[d_in, d_out]` and optional bias `[d_out]`. */
function checkKernel(subject: string, weight: unknown, bias: unknown, dIn?: number): { dIn: number; dOut: number } {
  if (!(weight instanceof tf.Tensor) || weight.rank !== 2) {
    throw new ShapeError(`${subject}: weight`, {
      expected: 'a 2-D kernel [d_in, d_out]',
      received: describeValue(weight),
      fix: 'pass tf.tensor2d(...); a PyTorch Linear weight [out, in] must be transposed (see fromTorchLinear)',
    });
  }
  const [rows, cols] = weight.shape as [number, number];
  if (dIn !== undefined && rows !== dIn) {
    throw new ShapeError(`${subject}: weight`, {
      expected: `${dIn} rows (one per input feature)`,
      received: formatShape(weight.shape),
      fix: 'the kernel acts on the right: u [.., d_in] · W [d_in, d_out]; transpose PyTorch [out, in] weights',
    });
  }
  if (bias !== undefined && (!(bias instanceof tf.Tensor) || bias.rank !== 1 || bias.shape[0] !== cols)) {
    throw new ShapeError(`${subject}: bias`, {
      expected: `a 1-D bias of shape [${cols}]`,
      received: describeValue(bias),
      fix: 'one bias value per output feature',
    });
  }
  return { dIn: rows, dOut: cols };
}

/** `u W + b` on every token: `[B, N_x, d_in] → [B, N_x, d_out]`. Returns a new field (one surviving tensor). */
export function featureTransform(u: Field, weight: tf.Tensor2D, bias?: tf.Tensor1D): Field {
  checkField('featureTransform', u);
  const { dOut } = checkKernel('featureTransform', weight, bias, u.features);
  const values = tf.tidy(() => {
    const [b, n, d] = u.values.shape;
    const y = tf.matMul(tf.reshape(u.values, [b * n, d]), weight); // [B·N_x, d_out]
    return tf.reshape(bias === undefined ? y : tf.add(y, bias), [b, n, dOut]) as tf.Tensor3D; // [B, N_x, d_out]
  });
  return dOut === u.features ? u.withValues(values) : u.onFeatureGrid(values, unitFeatureGrid(dOut));
}

/** `W = W^std − J` (J: I, E or R): a standard kernel `[d_in, d_out]` as a time-step increment. Caller owns it. */
export function toIncrement(standard: tf.Tensor2D): tf.Tensor2D {
  const { dIn, dOut } = checkKernel('toIncrement', standard, undefined);
  return tf.tidy(() => tf.sub(standard, tf.eye(dIn, dOut)) as tf.Tensor2D);
}

/** `W^std = J + W`: an increment back as a standard kernel. Caller owns it. */
export function fromIncrement(increment: tf.Tensor2D): tf.Tensor2D {
  const { dIn, dOut } = checkKernel('fromIncrement', increment, undefined);
  return tf.tidy(() => tf.add(increment, tf.eye(dIn, dOut)) as tf.Tensor2D);
}

/** A PyTorch `nn.Linear` weight `[out, in]` as a TIDE kernel `[in, out]`. Caller owns it. */
export function fromTorchLinear(weight: tf.Tensor2D): tf.Tensor2D {
  checkKernel('fromTorchLinear', weight, undefined);
  return tf.transpose(weight) as tf.Tensor2D;
}

/**
 * The rate `F(u) = u W + b` of the operator contract, with `W` an increment kernel. When d_out ≠ d_in it
 * provides `embed(u) = J u`, so that the explicit step is `J u + Δt·F(u)`. Holds (does not own) its tensors.
 */
export class FeatureIncrement implements VectorField, HasParameters {
  readonly kind = 'vector-field' as const;
  readonly label: string;
  readonly weight: tf.Tensor2D;
  readonly bias: tf.Tensor1D | undefined;
  readonly embed?: (u: Field) => Field;

  constructor(weight: tf.Tensor2D, bias?: tf.Tensor1D, label = 'feature-transform') {
    const { dIn, dOut } = checkKernel('FeatureIncrement', weight, bias);
    this.weight = weight;
    this.bias = bias;
    this.label = label;
    if (dIn !== dOut) this.embed = (u: Field) => embedFeatures(u, dOut);
  }

  evaluate(u: Field, _t: number): Field {
    return featureTransform(u, this.weight, this.bias);
  }

  parameters(): readonly tf.Variable[] {
    const held: unknown[] = [this.weight, this.bias];
    return held.filter((p): p is tf.Variable => p instanceof tf.Variable);
  }
}
