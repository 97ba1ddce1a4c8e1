// Off WebGL the fused core refuses with a BackendError that names the fix (the browser lane tests its numbers).
import { describe, expect, it } from 'vitest';
import { BackendError } from '../errors.js';
import { useBackend } from '../testing/index.js';
import { fusedAttentionWebgl } from './fused-attention-webgl.js';
import { disposeCore, randomCore } from './reference.fixture.js';

describe('fusedAttentionWebgl in Node', () => {
  it('throws a BackendError on cpu and wasm, naming blockedAttention as the fix', async () => {
    for (const backend of ['cpu', 'wasm'] as const) {
      await useBackend(backend);
      const core = randomCore(1, 1, 5, 4, 4, [[1, 1, 1, 1, 1]], false);
      expect(() => fusedAttentionWebgl(core)).toThrow(BackendError);
      expect(() => fusedAttentionWebgl(core)).toThrow(new RegExp(`received the "${backend}" backend.*blockedAttention`));
      disposeCore(core);
    }
    await useBackend('cpu');
  });
});
