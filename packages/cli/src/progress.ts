/**
 * Progress of a long command: a progress bar (cli-progress) when standard output is a terminal, plain lines
 * otherwise (logs, CI, tests), so that piped output stays readable.
 */
import cliProgress from 'cli-progress';
import type { CliIO } from './cli.js';

/** Reports `done / total` with a message; `milestone` marks updates that a plain log should keep. */
export interface ProgressReporter {
  update(done: number, total: number, message: string, milestone?: boolean): void;
  stop(): void;
}

/** A progress bar on a TTY (`stream.isTTY`), else one line per milestone and at the end, through `io.out`. */
export function progressReporter(
  io: CliIO,
  label: string,
  stream: { isTTY?: boolean } & NodeJS.WritableStream = process.stdout,
): ProgressReporter {
  if (stream.isTTY === true) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} {message} (eta {eta_formatted})`,
        stream,
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(done, total, message) {
        if (!started) {
          bar.start(total, done, { message });
          started = true;
        } else {
          bar.setTotal(total);
          bar.update(done, { message });
        }
      },
      stop: () => {
        if (started) bar.stop();
        started = false; // idempotent
      },
    };
  }
  return {
    update(done, total, message, milestone = true) {
      if (milestone || done === total) io.out(`${label}: ${done}/${total} ${message}`);
    },
    stop: () => undefined,
  };
}
