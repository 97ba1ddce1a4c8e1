/**
 * The `tide` command line (docs/checkpoints.md), on commander: generated help, typed option parsing and one
 * line per error. Commands load the engine only when they run (`commands.ts` is imported lazily), so `tide
 * --help` and usage errors answer without loading tfjs.
 *
 *   tide [run]      the study on the embedded default model (generated text, refined schemes, the report)
 *   tide forward    --model DIR --input FILE --output FILE [--scheme S] [--steps-per-layer K] [--schedule piecewise|linear] [--backend B]
 *   tide generate   --model DIR (--prompt TEXT | --ids 1,2,3) [--tokens N] [--temperature T] [--top-k K] [--seed S] [--scheme S] [--steps-per-layer K]
 *   tide inspect    --model DIR
 *   tide train      --data FILE --out DIR [architecture, optimiser and discretisation flags] [--controls legendre:K]
 *                   [--init-from DIR] [--schemes rk4:1,rk4:2] [--fine rk4:4 --fine-weight W] [--control-energy λ]
 *
 * Errors end with one line on stderr and a non-zero exit (1: bad input, 2: bad usage); `forward` writes its
 * output atomically, so nothing is left half-written.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

/** Where the CLI writes. */
export interface CliIO {
  out(line: string): void;
  err(line: string): void;
}

/** The embedded default checkpoint shipped with the package. */
export const DEFAULT_MODEL_DIR = fileURLToPath(new URL('../models/default', import.meta.url));
/** The embedded continuous model: smooth controls trained for its continuum (its MODEL_CARD.md). */
export const CONTINUOUS_MODEL_DIR = fileURLToPath(new URL('../models/continuous', import.meta.url));
/** The embedded image model: a ViT trained by `tide train-vision` on the shapes task (its MODEL_CARD.md). */
export const SHAPES_MODEL_DIR = fileURLToPath(new URL('../models/shapes-vit', import.meta.url));

/**
 * The names the help lists. The library owns them (`SCHEME_NAMES` of `@tide/transformer`, `BACKEND_NAMES` of
 * `@tide/backend`) and checks every value; a test keeps these lists equal to the library's, which the CLI does
 * not import here so that help and usage errors do not load the engine.
 */
export const HELP_SCHEMES = ['lie', 'exact', 'strang', 'euler', 'heun', 'rk4', 'dopri5', 'bosh3'] as const;
export const HELP_BACKENDS = ['auto', 'webgl', 'wasm', 'cpu'] as const;

const integer =
  (min: number, max = Infinity) =>
  (raw: string): number => {
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(v) || v < min || v > max)
      throw new InvalidArgumentError(
        `expected an integer ${max === Infinity ? `≥ ${min}` : `from ${min} to ${max}`}, received "${raw}"`,
      );
    return v;
  };
const nonNegative = (raw: string): number => {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v < 0)
    throw new InvalidArgumentError(`expected a number ≥ 0, received "${raw}"`);
  return v;
};
const positive = (raw: string): number => {
  const v = Number(raw);
  if (raw.trim() === '' || Number.isNaN(v) || v <= 0)
    throw new InvalidArgumentError(`expected a number > 0, received "${raw}"`);
  return v;
};
const boolean = (raw: string): boolean => {
  if (raw !== 'true' && raw !== 'false') throw new InvalidArgumentError(`expected true or false, received "${raw}"`);
  return raw === 'true';
};
/** `scheme:k`, e.g. `rk4:2` (the library checks the scheme's name and k). */
const schemeSpec = (raw: string): { scheme: string; stepsPerLayer: number } => {
  const m = /^\s*([A-Za-z0-9_-]+)\s*:\s*(\d+)\s*$/.exec(raw);
  if (m === null) throw new InvalidArgumentError(`expected scheme:k, e.g. rk4:2, received "${raw}"`);
  return { scheme: m[1]!, stepsPerLayer: Number(m[2]) };
};
const schemeList = (raw: string): { scheme: string; stepsPerLayer: number }[] => {
  if (raw.trim() === '')
    throw new InvalidArgumentError(`expected comma-separated scheme:k, e.g. rk4:1,rk4:2, received "${raw}"`);
  return raw.split(',').map(schemeSpec);
};
/** `basis:K`, e.g. `legendre:4` (the library checks the basis and K). */
const controlsSpec = (raw: string): { basis: string; coefficients: number } => {
  const m = /^\s*([A-Za-z]+)\s*:\s*(\d+)\s*$/.exec(raw);
  if (m === null) throw new InvalidArgumentError(`expected legendre:K, e.g. legendre:4, received "${raw}"`);
  return { basis: m[1]!, coefficients: Number(m[2]) };
};
const idList = (raw: string): number[] => {
  const ids = raw.split(',').map((s) => Number(s.trim()));
  if (raw.trim() === '' || ids.some((i) => !Number.isInteger(i)))
    throw new InvalidArgumentError(`expected comma-separated integers, received "${raw}"`);
  return ids;
};

function allowUnusedOption(): Option {
  return new Option('--allow-unused', 'load a checkpoint whose weights file holds tensors the config does not use');
}

function backendOption(): Option {
  return new Option('--backend <name>', 'tfjs backend').choices(HELP_BACKENDS).default('auto');
}

/** `--threads n`: XNNPACK threads of the wasm backend in Node (matrix products and convolutions on n cores). */
function threadsOption(): Option {
  // 8: @tide/backend's MAX_WASM_THREADS (a literal here: parsing must not load the engine; the CLI test checks it).
  return new Option('--threads <n>', 'wasm backend: XNNPACK threads for matrix products (1–8, default 1)').argParser(
    integer(1, 8),
  );
}

function discretisationOptions(command: Command): Command {
  return command
    .option(
      '--scheme <name>',
      `time-stepping scheme: ${HELP_SCHEMES.join(', ')} (default lie; exact = Lie with one step per layer, the network itself)`,
    )
    .option('--steps-per-layer <k>', 'k steps per layer, Δt = 1/k (default 1)', integer(1))
    .option('--schedule <kind>', 'θ(t) between layers: piecewise or linear (default piecewise)')
    .option('--rtol <r>', 'adaptive steps to this relative tolerance (schemes dopri5, bosh3)', positive)
    .option('--atol <a>', 'absolute tolerance of adaptive steps (default: --rtol)', positive)
    .option('--max-memory <GiB>', 'refuse a solve whose tensors would exceed this (default 2)', positive)
    .option('--max-work <GFLOP>', 'refuse a solve of more operations than this (default 10000)', positive);
}

/** The program: every command with its options, parsing to typed values; actions are loaded lazily. */
function program(io: CliIO): Command {
  const commands = () => import('./commands.js');
  const root = new Command('tide')
    .description('tide — Transformers as integro-differential equations')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.trimEnd()),
      writeErr: (s) => io.err(s.trimEnd()),
      outputError: () => undefined,
    })
    .showSuggestionAfterError(false)
    .allowExcessArguments(false);

  root
    .command('run')
    .description(
      'the study: text generated by the embedded default model, the same tokens re-solved with refined schemes, and an HTML report',
    )
    .option('--model <dir>', 'a model folder with a tokenizer (default: the embedded model)')
    .option('--prompt <text>', 'the prompt', 'Call me Ishmael. ')
    .option('--tokens <n>', 'tokens to generate', integer(1), 80)
    .option(
      '--continuous-model <dir>',
      'a model with smooth controls θ(t) to study beside the default (anytime depth: refinement against its own fine solve, measured orders, held-out loss against evaluations; the folder holds heldout.txt); default: the embedded continuous model, beside the embedded default',
    )
    .option(
      '--image-model <dir>',
      'an image classifier to run on held-out shapes pictures at its resolution and at 1.5× (default: the embedded shapes ViT)',
    )
    .option('--report <dir>', 'where the report goes', join('reports', 'tide-run'))
    .addOption(backendOption())
    .addOption(threadsOption())
    .action(async (o) =>
      (await commands()).commandRun(
        {
          ...o,
          defaultModel: DEFAULT_MODEL_DIR,
          defaultContinuousModel: CONTINUOUS_MODEL_DIR,
          defaultImageModel: SHAPES_MODEL_DIR,
        },
        io,
      ),
    );

  discretisationOptions(
    root
      .command('forward')
      .description('solve a checkpoint on an input file (input or input_ids) and write output')
      .requiredOption('--model <dir>', 'model folder (config.json + model.safetensors)')
      .requiredOption('--input <file>', 'input .safetensors (input [B, N, d] or input_ids [B, N])')
      .requiredOption('--output <file>', 'output .safetensors (written atomically)'),
  )
    .addOption(allowUnusedOption())
    .addOption(backendOption())
    .addOption(threadsOption())
    .action(async (o) => (await commands()).commandForward(o, io));

  discretisationOptions(
    root
      .command('generate')
      .description('generate tokens autoregressively')
      .requiredOption('--model <dir>', 'model folder')
      .addOption(new Option('--prompt <text>', 'prompt text (needs a tokenizer)').conflicts('ids'))
      .option('--ids <list>', 'prompt token ids, e.g. 3,17,42', idList)
      .option('--tokens <n>', 'tokens to generate', integer(0), 32)
      .option('--temperature <t>', '0 is greedy', nonNegative, 0)
      .option('--top-k <k>', 'sample among the k most likely tokens', integer(1))
      .option('--seed <s>', 'seed of the sampler', integer(0), 0),
  )
    .addOption(allowUnusedOption())
    .addOption(backendOption())
    .addOption(threadsOption())
    .hook('preAction', (cmd) => {
      if (cmd.opts()['prompt'] === undefined && cmd.opts()['ids'] === undefined)
        cmd.error('tide generate: pass --prompt TEXT or --ids 1,2,3', { exitCode: 2, code: 'tide.missingPrompt' });
    })
    .action(async (o) => (await commands()).commandGenerate(o, io));

  root
    .command('inspect')
    .description('describe a checkpoint as a continuous model')
    .requiredOption('--model <dir>', 'model folder')
    .addOption(allowUnusedOption())
    .addOption(backendOption())
    .addOption(threadsOption())
    .action(async (o) => (await commands()).commandInspect(o, io));

  discretisationOptions(
    root
      .command('train')
      .description('train a character-level language model through the solver')
      .requiredOption('--data <file>', 'UTF-8 text to train on')
      .requiredOption('--out <dir>', 'checkpoint folder (HF GPT-2 layout + trainer state)')
      .option('--norm-first <bool>', 'pre-LN (true) or post-LN (false) layers (default true)', boolean)
      .option('--steps <n>', 'optimiser steps', integer(1), 2000)
      .option('--batch <b>', 'batch size', integer(1), 16)
      .option('--context <n>', 'context length (default 64)', integer(2))
      .option('--d-model <d>', 'feature width (default 64)', integer(1))
      .option('--heads <h>', 'attention heads (default 4)', integer(1))
      .option('--layers <l>', 'layers: the depth T (default 4)', integer(1))
      .option('--d-ff <f>', 'hidden width of the FFN (default 4·d)', integer(1))
      .option(
        '--controls <basis:K>',
        'smooth controls θ(t) = Σ_k c_k P_k(2t/T − 1) on [0, T]: legendre:K trains K Legendre coefficient sets (K = 1…64; default: one parameter set per layer); default scheme rk4:1',
        controlsSpec,
      )
      .option(
        '--init-from <dir>',
        'warm start from a checkpoint of the same sizes (architecture flags default to its); with --controls the coefficients are fitted so that θ(i + ½) = layer i (exact for K = layers)',
      )
      .option(
        '--schemes <list>',
        'solve each batch with one of these, drawn per batch, e.g. rk4:1,rk4:2,heun:2; the first is recorded for inference (instead of --scheme and --steps-per-layer)',
        schemeList,
      )
      .option('--fine <scheme:k>', 'the fine solve of --fine-weight (default rk4:4)', schemeSpec)
      .option(
        '--fine-weight <w>',
        'weight of KL(p_fine ‖ p_coarse): the coarse solve agrees with a fine one',
        nonNegative,
      )
      .option('--control-energy <λ>', 'weight of the control energy ∫₀ᵀ ‖θ′(t)‖² dt (with --controls)', nonNegative)
      .option('--lr <lr>', 'peak learning rate', nonNegative, 3e-3)
      .option('--warmup <n>', 'warm-up steps (default min(100, steps/10))', integer(0))
      .option('--weight-decay <w>', 'decoupled weight decay', nonNegative, 0.1)
      .option('--kinetic <w>', 'weight of the kinetic-energy regulariser', nonNegative, 0)
      .option('--eval-every <n>', 'validation every n steps', integer(1), 100)
      .option('--checkpoint-every <n>', 'checkpoint every n steps', integer(1), 250)
      .option('--stop-after <n>', 'stop (with a checkpoint) after this step', integer(1))
      .option('--seed <s>', 'seed', integer(0), 0)
      .option('--resume <bool>', 'continue the run in --out', boolean, false),
  )
    .addOption(backendOption())
    .addOption(threadsOption())
    .action(async (o) => (await commands()).commandTrain(o, io));

  root
    .command('train-vision')
    .description(
      'train a ViT on the procedural shapes task (disc, square, triangle, cross) through the solver; report held-out accuracy at the trained size and at 1.5×',
    )
    .requiredOption('--out <dir>', 'checkpoint folder (torchvision ViT layout)')
    .option('--steps <n>', 'optimiser steps', integer(1), 3000)
    .option('--batch <b>', 'pictures per step', integer(1), 32)
    .option('--image-size <s>', 'side of the training pictures (pixels)', integer(1), 32)
    .option('--patch <p>', 'patch side (pixels)', integer(1), 8)
    .option('--d-model <d>', 'feature width', integer(1), 48)
    .option('--heads <h>', 'attention heads', integer(1), 4)
    .option('--layers <l>', 'layers: the depth T', integer(1), 4)
    .option('--d-ff <f>', 'hidden width of the FFN (default 2·d)', integer(1))
    .option('--lr <lr>', 'peak learning rate', nonNegative, 1e-3)
    .option('--seed <s>', 'seed of the initialisation', integer(0), 0)
    .option('--resolutions <list>', 'train on these image sides in turn, e.g. 24,32,40 (default: --image-size)', idList)
    .option('--held-out <n>', 'held-out pictures per resolution', integer(1), 400)
    .addOption(backendOption())
    .addOption(threadsOption())
    .action(async (o) => (await commands()).commandTrainVision(o, io));
  return root;
}

/** Runs the CLI; returns the exit code (0 ok, 1 bad input, 2 bad usage). With no command, `run`. */
export async function runCli(
  argv: readonly string[],
  io: CliIO = { out: (l) => console.log(l), err: (l) => console.error(l) },
): Promise<number> {
  const args =
    argv.length === 0 ||
    (argv[0]!.startsWith('-') && argv[0] !== '--help' && argv[0] !== '-h' && argv[0] !== '--version')
      ? ['run', ...argv]
      : [...argv];
  try {
    await program(io).parseAsync(args, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.help' ||
        error.code === 'commander.version'
      )
        return 0;
      io.err(`tide: ${error.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')}`);
      return 2;
    }
    const { describeFailure } = await import('./commands.js');
    const { message, exitCode } = describeFailure(error);
    io.err(`tide: ${message.replace(/\s*\n\s*/g, ' ')}`);
    return exitCode;
  }
}
