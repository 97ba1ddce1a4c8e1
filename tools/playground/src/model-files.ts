/**
 * A checkpoint folder the user picks in the page (a file input), read without uploading anything: `config.json`
 * and `model.safetensors` in the HF GPT-2 or PyTorch encoder layout (docs/checkpoints.md). Files are hostile
 * until checked: sizes are bounded before reading, and every failure is a {@link CheckpointError} whose one-line
 * message the page shows.
 */
import { describeValue } from '@tide/backend';
import { CheckpointError, readSafetensors, tokenizerFor, type Tokenizer } from '@tide/formats';
import { modelFromTensors, parseConfig, type TransformerModel } from '@tide/transformer';

/** What the page needs of a picked file (a DOM `File` has it). */
export interface PickedFile {
  readonly name: string;
  readonly size: number;
  /** The path inside a picked folder (`webkitRelativePath`), when the input picked a folder. */
  readonly webkitRelativePath?: string;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** A model ready for the page: the model, its tokenizer (if it declares one) and a one-line description. */
export interface LoadedModel {
  readonly model: TransformerModel;
  readonly tokenizer: Tokenizer | undefined;
  readonly name: string;
  readonly description: string;
}

/** The largest config.json read (1 MiB) and weights file read (1 GiB: a browser tab's memory). */
export const MAX_CONFIG_BYTES = 1 << 20;
export const MAX_WEIGHTS_BYTES = 1 << 30;

const listed = (files: readonly PickedFile[]) =>
  files.length === 0 ? 'no files' : `files ${files.map((f) => f.name).join(', ')}`;

/** Picks `config.json` and the weights among the files of a folder (by base name; `io.safetensors` is test data). */
function pick(files: readonly PickedFile[]): { config: PickedFile; weights: PickedFile } {
  if (!Array.isArray(files) || files.some((f) => typeof f?.name !== 'string' || typeof f.arrayBuffer !== 'function'))
    throw new CheckpointError('picked files', {
      expected: 'a list of files',
      received: describeValue(files),
      fix: 'pick the folder (or its files) with the file input',
    });
  const configs = files.filter((f) => f.name === 'config.json');
  const named = files.filter((f) => f.name === 'model.safetensors');
  const weights =
    named.length > 0 ? named : files.filter((f) => f.name.endsWith('.safetensors') && f.name !== 'io.safetensors');
  if (configs.length !== 1 || weights.length !== 1)
    throw new CheckpointError('picked files', {
      expected: 'one config.json and one model.safetensors (HF GPT-2 or PyTorch encoder layout)',
      received: listed(files),
      fix: 'pick the checkpoint folder, or select both files together',
    });
  return { config: configs[0]!, weights: weights[0]! };
}

async function bytesOf(file: PickedFile, limit: number, what: string): Promise<Uint8Array> {
  if (!Number.isFinite(file.size) || file.size > limit)
    throw new CheckpointError(file.name, {
      expected: `${what} of at most ${limit} bytes`,
      received: `${file.size} bytes`,
      fix: 'pick a smaller checkpoint, or run it with the tide command in Node',
    });
  return new Uint8Array(await file.arrayBuffer());
}

/** Builds a model from a config object and safetensors bytes (the embedded models and picked folders alike). */
export async function modelFromBytes(
  configText: string,
  weights: Uint8Array,
  name: string,
  files = { config: 'config.json', weights: 'model.safetensors' },
): Promise<LoadedModel> {
  let raw: unknown;
  try {
    raw = JSON.parse(configText);
  } catch (error) {
    throw new CheckpointError(files.config, {
      expected: 'a JSON object',
      received: `text that is not JSON (${(error as Error).message})`,
      fix: 'pick the config.json written with the checkpoint',
    });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new CheckpointError(files.config, {
      expected: 'a JSON object',
      received: describeValue(raw),
      fix: 'pick the config.json written with the checkpoint',
    });
  const config = parseConfig(raw as Record<string, unknown>, files.config);
  const file = readSafetensors(weights, files.weights);
  const model = modelFromTensors(config, file.tensors, files.weights);
  const tokenizer = await tokenizerFor(model.config);
  const c = model.config;
  const description =
    `${name}: ${c.layout === 'gpt2' ? 'GPT-2 layout (causal language model)' : 'PyTorch encoder layout'}, ` +
    (c.controls === undefined
      ? `${c.numLayers} layers, `
      : `depth T = ${c.numLayers} with smooth controls θ(t) (${c.controls.coefficients} Legendre coefficients), `) +
    `d ${c.dModel}, ${c.heads} heads, ${c.normFirst ? 'pre-LN' : 'post-LN'}` +
    (c.vocabSize !== undefined ? `, vocabulary ${c.vocabSize}` : '') +
    (tokenizer ? `, tokenizer ${tokenizer.name}` : c.layout === 'gpt2' ? ', no tokenizer (prompts are token ids)' : '');
  return { model, tokenizer, name, description };
}

/** Reads a checkpoint from the files a file input picked. */
export async function modelFromFiles(files: readonly PickedFile[]): Promise<LoadedModel> {
  const { config, weights } = pick(files);
  const configBytes = await bytesOf(config, MAX_CONFIG_BYTES, 'a config.json');
  const weightBytes = await bytesOf(weights, MAX_WEIGHTS_BYTES, 'a weights file');
  const folder = (weights.webkitRelativePath ?? '').split('/').slice(0, -1).join('/');
  return modelFromBytes(new TextDecoder().decode(configBytes), weightBytes, folder || weights.name, {
    config: config.name,
    weights: weights.name,
  });
}
