// Schemes by name for u_t = Σ_j G_j(u): each name is the scheme it says (same result as its constructor), Strang
// takes the fields in reverse (the last takes the half steps), and bad names or fields are SolverErrors.
import { expect, it } from 'vitest';
import { tf } from '@tide/backend';
import { expectClose } from '@tide/backend/testing';
import { field } from '@tide/domain';
import { bogackiShampine, dormandPrince } from './embedded-runge-kutta.js';
import { SolverError } from './errors.js';
import { FIELD_SCHEME_NAMES, fieldScheme } from './field-scheme.js';
import { FIELD_A, FIELD_B } from './linear.fixture.js';
import { explicitEuler, heun, lieSplitting, rk4, strangSplitting, type Scheme } from './schemes.js';
import { solve } from './solve.js';
import { explicitStep } from './sub-steps.js';

const A = FIELD_A;
const B = FIELD_B;

it('every name is the scheme it names', () => {
  const expected: Record<(typeof FIELD_SCHEME_NAMES)[number], Scheme> = {
    lie: lieSplitting([explicitStep(A), explicitStep(B)]),
    strang: strangSplitting([B, A]),
    euler: explicitEuler([A, B]),
    heun: heun([A, B]),
    rk4: rk4([A, B]),
    dopri5: dormandPrince([A, B]),
    bosh3: bogackiShampine([A, B]),
  };
  const u0 = field(tf.tensor3d([[[1, -0.5]]]));
  for (const name of FIELD_SCHEME_NAMES) {
    const a = solve(u0, fieldScheme(name, [A, B]), { t1: 1, step: { stepsPerUnit: 3 } });
    const b = solve(u0, expected[name], { t1: 1, step: { stepsPerUnit: 3 } });
    expectClose(a.u.values, b.u.values, { rtol: 1e-6, atol: 1e-7 }, name);
    a.dispose();
    b.dispose();
  }
  expect(fieldScheme('strang', [A, B], 'macaron').name).toBe('macaron');
  u0.dispose();
});

it('refuses unknown names and empty fields', () => {
  expect(() => fieldScheme('midpoint' as never, [A])).toThrow(SolverError);
  expect(() => fieldScheme('rk4', [])).toThrow(SolverError);
  expect(() => fieldScheme('rk4', 'A' as never)).toThrow(SolverError);
});
