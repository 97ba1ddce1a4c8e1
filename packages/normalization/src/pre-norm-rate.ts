/**
 * The pre-norm rate (paper §4; docs/splitting-and-recovery.md): a sub-layer that reads a normalised copy
 * of the state,
 *
 *     G(u, t) = F(affine(P^ε_{S(t)}(u)), t),
 *
 * used explicitly, `u ← u + Δt·G(u, t)`. With Δt = 1 this is the pre-LN (GPT-2, `norm_first`) block
 * `u + Attn(LN(u))` or `u + FFN(LN(u))`; the post-LN form instead projects the state itself (§4.1).
 * G is smooth in u (P^ε with ε > 0 is), so `u_t = Σ_k G_k(u, t)` is a plain ODE for any scheme.
 */
import { describeValue, type tf } from '@tide/backend';
import {
  DomainError,
  checkField,
  checkOperator,
  type Field,
  type HasParameters,
  type Operator,
  type PointwiseStep,
  type Projection,
  type VectorField,
} from '@tide/domain';

/**
 * `G(u, t) = F(affine(P^ε(u)), t)` as a {@link VectorField}: projection, then the pointwise affine map,
 * then the inner rate. Holds (does not own) its three operators. `embed` is the inner rate's, when the inner
 * rate lifts the features.
 */
export class PreNormRate implements VectorField, HasParameters {
  readonly kind = 'vector-field' as const;
  readonly label: string;
  readonly projection: Projection;
  readonly affine: PointwiseStep;
  readonly inner: VectorField;
  readonly embed?: (u: Field) => Field;

  constructor(projection: Projection, affine: PointwiseStep, inner: VectorField, label?: string) {
    checkOperator(
      'preNormRate: projection',
      projection,
      ['projection'],
      'pass the constraint set, e.g. layerNormConstraint({ epsilon: 1e-5 })',
    );
    checkOperator('preNormRate: affine', affine, ['pointwise'], 'pass the pointwise map, e.g. affineStep(gamma, beta)');
    checkOperator(
      'preNormRate: inner',
      inner,
      ['vector-field'],
      'pass the rate read at the normalised state, e.g. new IntegralAttention(params) or feedforwardRate(params, activation)',
    );
    if (label !== undefined && typeof label !== 'string') {
      throw new DomainError('preNormRate: label', {
        expected: 'a string (or nothing)',
        received: describeValue(label),
        fix: 'omit it for "pre-norm(<inner label>)"',
      });
    }
    this.projection = projection;
    this.affine = affine;
    this.inner = inner;
    this.label = label ?? `pre-norm(${inner.label})`;
    if (inner.embed !== undefined) this.embed = (u: Field) => inner.embed!(u);
  }

  /**
   * `F(affine(P^ε(u)))`: a new field; the two intermediate fields are disposed (also when an operator throws),
   * unless an operator handed one of them back.
   */
  evaluate(u: Field, t: number): Field {
    checkField(`${this.label}.evaluate`, u);
    const kept = new Set<tf.Tensor>([u.values]);
    const intermediates: Field[] = [];
    try {
      const p = this.projection.project(u, t); // [B, N_x, N_y]: P^ε(u)
      intermediates.push(p);
      const a = this.affine.apply(p, t); // [B, N_x, N_y]: γ·P^ε(u) + β
      intermediates.push(a);
      const out = this.inner.evaluate(a, t); // [B, N_x, N_y']
      kept.add(out.values);
      return out;
    } finally {
      for (const values of new Set(intermediates.map((i) => i.values))) if (!kept.has(values)) values.dispose();
    }
  }

  /** The trainable variables of the three operators (those that list theirs), each once. */
  parameters(): readonly tf.Variable[] {
    const all = [this.projection, this.affine, this.inner].flatMap(
      (op: Operator & Partial<HasParameters>) => op.parameters?.() ?? [],
    );
    return [...new Set(all)];
  }
}

/**
 * The pre-norm rate `G(u, t) = F(affine(P^ε_{S(t)}(u)), t)` (paper §4, the pre-LN form; GPT-2's
 * `u + Attn(LN(u))` is `u + Δt·G(u)` with Δt = 1; docs/splitting-and-recovery.md).
 *
 * Shapes: `u: [B, N_x, d] → G(u): [B, N_x, d]` (or the inner rate's lifted width); `projection` and
 * `affine` act per token on the d features, `inner` reads `[B, N_x, d]`.
 *
 * @param projection P^ε, a {@link Projection} (e.g. `layerNormConstraint({ epsilon })`)
 * @param affine the pointwise map after it (e.g. `affineStep(gamma, beta)`); with P^ε the pair is `nn.LayerNorm`
 * @param inner F, any {@link VectorField} of `@tide/domain` (attention, a feedforward rate, …)
 * @param label a name for statistics and errors (default `pre-norm(<inner label>)`)
 * @throws DomainError when an argument is not an operator of the expected kind
 */
export function preNormRate(
  projection: Projection,
  affine: PointwiseStep,
  inner: VectorField,
  label?: string,
): PreNormRate {
  return new PreNormRate(projection, affine, inner, label);
}
