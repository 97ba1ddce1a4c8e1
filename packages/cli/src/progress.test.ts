// Progress: a bar on a terminal, plain lines otherwise.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { progressReporter } from './progress.js';

describe('progressReporter', () => {
  it('writes plain lines for milestones and the last step when the output is not a terminal', () => {
    const lines: string[] = [];
    const p = progressReporter(
      { out: (l) => lines.push(l), err: () => undefined },
      'job',
      Object.assign(new PassThrough(), { isTTY: false }),
    );
    p.update(1, 3, 'first', false);
    p.update(2, 3, 'second', true);
    p.update(3, 3, 'third', false);
    p.stop();
    expect(lines).toEqual(['job: 2/3 second', 'job: 3/3 third']);
  });

  it('draws a bar on a terminal and prints no plain lines', () => {
    const lines: string[] = [];
    const stream = Object.assign(new PassThrough(), {
      isTTY: true,
      columns: 120,
      cursorTo: () => true,
      clearLine: () => true,
      moveCursor: () => true,
    });
    let drawn = '';
    stream.on('data', (d: Buffer) => (drawn += d.toString()));
    const p = progressReporter({ out: (l) => lines.push(l), err: () => undefined }, 'job', stream);
    p.update(1, 4, 'working');
    p.update(4, 4, 'done');
    p.stop();
    expect(lines).toEqual([]);
    expect(drawn).toMatch(/job \[.*\] 4\/4 done/);
  });
});
