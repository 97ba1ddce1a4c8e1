// The README's examples run as written.
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { runReadmeExamples } from '@tide/backend/testing';

it('runs every TypeScript example of the README', async () => {
  expect(await runReadmeExamples(fileURLToPath(new URL('..', import.meta.url)))).toBeGreaterThan(0);
});
