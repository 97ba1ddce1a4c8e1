// Off WebGL the fused core refuses with a BackendError that names the fix (the browser lane tests its numbers);
// the default tile is plain arithmetic, checked here.
import { describe, expect, it } from 'vitest';
import { BackendError } from '../errors.js';
import { useBackend } from '../testing/index.js';
import { defaultFusedTile, fusedAttentionWebgl } from './fused-attention-webgl.js';
import { disposeCore, randomCore } from './reference.fixture.js';

describe('fusedAttentionWebgl in Node', () => {
  it('throws a BackendError on cpu and wasm, naming blockedAttention as the fix', async () => {
    for (const backend of ['cpu', 'wasm'] as const) {
      await useBackend(backend);
      const core = randomCore(1, 1, 5, 4, 4, [[1, 1, 1, 1, 1]], false);
      expect(() => fusedAttentionWebgl(core)).toThrow(BackendError);
      expect(() => fusedAttentionWebgl(core)).toThrow(
        new RegExp(`received the "${backend}" backend.*blockedAttention`),
      );
      disposeCore(core);
    }
    await useBackend('cpu');
  });
});

describe('defaultFusedTile', () => {
  it('keeps B·H·N·T near the budget, a multiple of 64 within [64, N]', () => {
    expect(defaultFusedTile(1, 16384)).toBe(256);
    expect(defaultFusedTile(12, 256)).toBe(256);
    expect(defaultFusedTile(8, 4096)).toBe(128);
    expect(defaultFusedTile(64, 65536)).toBe(64);
    expect(defaultFusedTile(1, 10)).toBe(10);
  });

  it('refuses sizes that are not positive integers', () => {
    expect(() => defaultFusedTile(0, 16)).toThrow(/defaultFusedTile: batchHeads: expected an integer ≥ 1/);
    expect(() => defaultFusedTile(2, 1.5)).toThrow(/defaultFusedTile: tokens: expected an integer ≥ 1.*received 1\.5/);
    expect(() => defaultFusedTile(2, Number.NaN)).toThrow(BackendError);
  });
});
