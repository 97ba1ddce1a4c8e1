// Position embeddings on another patch grid: the same grid is a copy, another grid is the bicubic resampling of
// the patch rows with the class row kept (torchvision's rule; the ViT fixtures' parity covers the numbers); the
// ViT's initial field puts them on the image's grid; bad tables and sizes are typed errors; nothing leaks.
import { expect, it } from 'vitest';
import { initEngine, tf } from '@tide/backend';
import { expectClose, expectNoLeaks } from '@tide/backend/testing';
import { field, imageTokenGrid, resampleImageField } from '@tide/domain';
import { fixtureDir, visionFixtureIO } from '@tide/fixtures';
import { ImageInputError } from './errors.js';
import { vitInitialField } from './forward.js';
import { loadVisionCheckpoint } from './node.js';
import { positionsOn } from './positions.js';

it('copies on the same grid, resamples on another, and refuses bad tables and sizes', async () => {
  await initEngine({ backend: 'cpu' });
  const table = tf.randomNormal([1, 1 + 12, 5], 0, 1, 'float32', 1) as tf.Tensor3D; // a 3 × 4 grid
  const same = positionsOn(table, [3, 4], 3, 4);
  expectClose(same, table);
  const finer = positionsOn(table, [3, 4], 5, 6);
  const expected = resampleImageField(field(table, { tokenGrid: imageTokenGrid(3, 4, { classToken: true }) }), 5, 6);
  expect(finer.shape).toEqual([1, 31, 5]);
  expectClose(finer, expected.values);
  await expectNoLeaks(() => [positionsOn(table, [3, 4], 5, 6), positionsOn(table, [3, 4], 3, 4)]);
  const before = tf.memory().numTensors;
  for (const [t, grid, r, c] of [
    [table, [4, 4], 5, 5],
    [table, [3, 4], 0, 5],
    [table, [3], 5, 5],
    [tf.zeros([13, 5]), [3, 4], 5, 5],
  ] as const)
    expect(() => positionsOn(t as tf.Tensor3D, grid as never, r, c)).toThrow(ImageInputError);
  expect(tf.memory().numTensors).toBe(before + 1); // the tf.zeros above
  tf.dispose([table, same, finer, expected.values]);
});

it("vitInitialField: the class token, the lifted patches and the resampled positions, on the image's grid", async () => {
  await initEngine({ backend: 'cpu' });
  const model = loadVisionCheckpoint(fixtureDir('vit-torchvision'));
  const io = visionFixtureIO('vit-torchvision', 'io-resized'); // 24 × 24: 6 × 6 patches
  const u = vitInitialField(model, io.pixelValues);
  expect(u.values.shape).toEqual([2, 37, 16]);
  expect(u.tokenGrid.layout).toEqual({ rows: 6, cols: 6, leading: 1 });
  await expectNoLeaks(() => [vitInitialField(model, io.pixelValues).values]);
  const wrong = tf.zeros([1, 3, 18, 16]) as tf.Tensor4D;
  expect(() => vitInitialField(model, wrong)).toThrow(/multiples of the patch size 4/);
  const cvt = loadVisionCheckpoint(fixtureDir('cvt-1stage'));
  expect(() => vitInitialField(cvt, io.pixelValues)).toThrow(ImageInputError);
  tf.dispose([u.values, wrong]);
  cvt.dispose();
  io.dispose();
  model.dispose();
});
