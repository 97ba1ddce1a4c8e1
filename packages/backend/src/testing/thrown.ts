/**
 * The error a call throws, for tests that inspect its fields (`subject`, `expected`, `received`, `fix`) rather
 * than only its message. Fails the test when nothing is thrown.
 */
export function thrownBy(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('thrownBy: expected the call to throw, but it returned');
}
