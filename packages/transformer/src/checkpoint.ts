/**
 * Text-model checkpoints (docs/checkpoints.md): a `config.json` in the HF GPT-2 layout or with the PyTorch
 * `nn.TransformerEncoder` constructor arguments, and the weights as a map of safetensors tensors. The
 * layout's key table (`@tide/formats`) maps checkpoint keys to the paths of the parameter tree, for reading and
 * for writing. Every mismatch between config and weights is a {@link CheckpointError} naming the file, the key,
 * what was expected and what was found.
 */
import { describeValue, flattenTree, unflattenTree } from '@tide/backend';
import {
  CheckpointError,
  configBoolean as bool,
  configInteger as int,
  configNumber as num,
  gpt2KeyTable,
  smoothControlsPrefix,
  readParameterTree,
  torchEncoderKeyTable,
  writeWithKeyTable,
  type KeyTable,
  type ReadTreeOptions,
  type SafeTensor,
  type TensorToWrite,
} from '@tide/formats';
import { SCHEME_NAMES, type SchemeName } from './discretisation.js';
import {
  MAX_CONTROL_COEFFICIENTS,
  transformerModel,
  type Activation,
  type ControlBasis,
  type ModelConfig,
  type ModelParameters,
  type TransformerModel,
} from './model.js';

/**
 * `"tide_controls": { "basis": "legendre", "coefficients": K }` (docs/checkpoints.md, "Smooth controls"), or
 * undefined when absent.
 */
function parseControls(file: string, raw: unknown): ControlBasis | undefined {
  if (raw === undefined) return undefined;
  const declared = (typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? raw : {}) as Record<
    string,
    unknown
  >;
  const k = declared['coefficients'];
  if (
    declared['basis'] !== 'legendre' ||
    !Number.isInteger(k) ||
    (k as number) < 1 ||
    (k as number) > MAX_CONTROL_COEFFICIENTS
  )
    throw new CheckpointError(`${file}: "tide_controls"`, {
      expected: `{ "basis": "legendre", "coefficients": K } with K an integer from 1 to ${MAX_CONTROL_COEFFICIENTS}`,
      received: (JSON.stringify(raw) ?? describeValue(raw)).slice(0, 80),
      fix: 'smooth controls are Legendre coefficient sets tide_controls.{k}.*; remove the field for a discrete network',
    });
  return { basis: 'legendre', coefficients: k as number };
}

/**
 * The discretisation a checkpoint recommends for inference: `"tide": { "scheme", "stepsPerLayer" }` in
 * config.json (what `tide train` records: the scheme it trained with), or `undefined` when absent.
 */
function parseRecommended(
  file: string,
  tide: Record<string, unknown>,
  form: { readonly normFirst: boolean; readonly smooth: boolean },
): ModelConfig['recommended'] {
  if (tide['scheme'] === undefined) return undefined;
  const scheme = tide['scheme'];
  const k = tide['stepsPerLayer'] ?? 1;
  if (typeof scheme !== 'string' || !(SCHEME_NAMES as readonly string[]).includes(scheme))
    throw new CheckpointError(`${file}: "tide": "scheme"`, {
      expected: `one of ${SCHEME_NAMES.join(', ')}`,
      received: describeValue(scheme),
      fix: 'record the scheme the model was trained with, or remove the field',
    });
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > 4096)
    throw new CheckpointError(`${file}: "tide": "stepsPerLayer"`, {
      expected: 'an integer from 1 to 4096',
      received: describeValue(k),
      fix: 'record the steps per layer the model was trained with, or remove the field',
    });
  // A recommendation the model can run (the rules of checkDiscretisationOptions and schemeForLayers).
  const refuse = (received: string, fix: string) => {
    throw new CheckpointError(`${file}: "tide": "scheme"`, {
      expected: 'a discretisation this model can run',
      received,
      fix,
    });
  };
  if (scheme === 'exact' && k !== 1)
    refuse(`exact with ${k} steps per layer`, 'exact is one step per layer: record lie');
  if (scheme === 'exact' && form.smooth) refuse('exact for smooth controls', 'record rk4 (what tide train uses)');
  if (!form.normFirst && scheme !== 'exact' && scheme !== 'lie')
    refuse(`${scheme} for a post-LN model`, 'post-LN layers are solved by Lie splitting: record lie or exact');
  return { scheme: scheme as SchemeName, stepsPerLayer: k };
}

/** Reads and validates a config.json (HF GPT-2 or a PyTorch encoder's constructor arguments). */
export function parseConfig(raw: Record<string, unknown>, file = 'config.json'): ModelConfig {
  if (raw['model_type'] === 'gpt2') {
    const act = raw['activation_function'] ?? 'gelu_new';
    if (act !== 'gelu_new' && act !== 'gelu')
      throw new CheckpointError(`${file}: "activation_function"`, {
        expected: '"gelu_new" or "gelu"',
        received: describeValue(act),
        fix: 'only GPT-2 activations are supported',
      });
    const d = int(file, raw, 'n_embd');
    const heads = int(file, raw, 'n_head');
    if (d % heads !== 0)
      throw new CheckpointError(`${file}: "n_head"`, {
        expected: `a divisor of n_embd = ${d}`,
        received: String(heads),
        fix: 'fix n_head',
      });
    const V = int(file, raw, 'vocab_size');
    const declared = raw['tide_tokenizer'] as { type?: unknown; alphabet?: unknown } | undefined;
    let tokenizer: ModelConfig['tokenizer'];
    if (declared !== undefined) {
      if (declared?.type !== 'chars' || typeof declared.alphabet !== 'string' || [...declared.alphabet].length !== V) {
        throw new CheckpointError(`${file}: "tide_tokenizer"`, {
          expected: `{ "type": "chars", "alphabet": <${V} characters> }`,
          received: JSON.stringify(declared).slice(0, 80),
          fix: 'one character per token id',
        });
      }
      tokenizer = { type: 'chars', alphabet: declared.alphabet };
    } else if (V === 50257) {
      tokenizer = { type: 'gpt2' };
    }
    // GPT-2 is pre-LN; a post-LN model trained by TIDE records "tide": { "norm_first": false }.
    const tideMeta = (raw['tide'] ?? {}) as Record<string, unknown>;
    const normFirst = bool(`${file}: "tide"`, tideMeta, 'norm_first', true);
    const controls = parseControls(file, raw['tide_controls']);
    const recommended = parseRecommended(file, tideMeta, { normFirst, smooth: controls !== undefined });
    return {
      layout: 'gpt2',
      dModel: d,
      heads,
      ...(tokenizer && { tokenizer }),
      dFeedforward: int(file, raw, 'n_inner', 4 * d),
      numLayers: int(file, raw, 'n_layer'),
      activation: act as Activation,
      normFirst,
      epsilon: num(file, raw, 'layer_norm_epsilon', 1e-5),
      causal: true,
      finalNorm: true,
      vocabSize: V,
      positions: int(file, raw, 'n_positions'),
      ...(controls && { controls }),
      ...(recommended && { recommended }),
    };
  }
  if (raw['format'] === 'torch-transformer-encoder') {
    if (raw['tide_controls'] !== undefined)
      throw new CheckpointError(`${file}: "tide_controls"`, {
        expected: 'smooth controls only in the GPT-2 layout ("model_type": "gpt2")',
        received: 'a torch-transformer-encoder config with "tide_controls"',
        fix: 'remove "tide_controls" (an encoder checkpoint holds one parameter set per layer)',
      });
    const act = raw['activation'] ?? 'relu';
    if (act !== 'relu' && act !== 'gelu')
      throw new CheckpointError(`${file}: "activation"`, {
        expected: '"relu" or "gelu"',
        received: describeValue(act),
        fix: 'nn.TransformerEncoderLayer supports relu and gelu',
      });
    const d = int(file, raw, 'd_model');
    const heads = int(file, raw, 'nhead');
    if (d % heads !== 0)
      throw new CheckpointError(`${file}: "nhead"`, {
        expected: `a divisor of d_model = ${d}`,
        received: String(heads),
        fix: 'fix nhead',
      });
    return {
      layout: 'torch-encoder',
      dModel: d,
      heads,
      dFeedforward: int(file, raw, 'dim_feedforward', 2048),
      numLayers: int(file, raw, 'num_layers'),
      activation: act,
      normFirst: bool(file, raw, 'norm_first', false),
      epsilon: num(file, raw, 'layer_norm_eps', 1e-5),
      causal: bool(file, raw, 'causal', false),
      finalNorm: bool(file, raw, 'final_norm', false),
    };
  }
  throw new CheckpointError(file, {
    expected: '"model_type": "gpt2" or "format": "torch-transformer-encoder"',
    received: `model_type ${describeValue(raw['model_type'])}, format ${describeValue(raw['format'])}`,
    fix: 'TIDE reads HF GPT-2 folders and PyTorch nn.TransformerEncoder state_dicts (see docs/checkpoints.md)',
  });
}

/**
 * The key table of a config's layout. With smooth controls (GPT-2 layout only) the table holds the K
 * coefficient sets under `tide_controls.{k}.` instead of the layers `h.{i}.`.
 */
export function keyTableFor(cfg: ModelConfig): KeyTable {
  const controls = cfg.controls;
  const sizes = {
    layers: controls?.coefficients ?? cfg.numLayers,
    dModel: cfg.dModel,
    dFeedforward: cfg.dFeedforward,
  };
  if (controls !== undefined && cfg.layout !== 'gpt2')
    throw new CheckpointError(`${cfg.layout} layout: smooth controls`, {
      expected: 'smooth controls only in the GPT-2 layout',
      received: `a ${cfg.layout} model with ${controls.coefficients} Legendre coefficient sets`,
      fix: 'store smooth-control models as GPT-2 checkpoints (docs/checkpoints.md, "Smooth controls")',
    });
  return cfg.layout === 'gpt2'
    ? gpt2KeyTable({
        ...sizes,
        vocabSize: cfg.vocabSize!,
        positions: cfg.positions!,
        ...(controls !== undefined && { layerPrefix: smoothControlsPrefix }),
      })
    : torchEncoderKeyTable({ ...sizes, finalNorm: cfg.finalNorm });
}

/** Options of {@link modelFromTensors}: `allowUnusedTensors` (default false: unused tensors are an error, listed). */
export type ModelFromTensorsOptions = ReadTreeOptions;

/**
 * Builds a model from a parsed config and safetensors tensors (no file system). Every tensor the layout
 * needs must be present with its shape and finite values, and (unless `allowUnusedTensors`) every tensor of
 * the checkpoint must be used: weights for a layer the config does not have are an error, not silently dropped.
 */
export function modelFromTensors(
  cfg: ModelConfig,
  tensors: ReadonlyMap<string, SafeTensor>,
  source = 'model.safetensors',
  options: ModelFromTensorsOptions = {},
): TransformerModel {
  const leaves = readParameterTree(tensors, keyTableFor(cfg), source, options);
  return transformerModel(cfg, unflattenTree<ModelParameters>(leaves), source);
}

/** The checkpoint tensors of a model in its config's layout (float32; what {@link modelFromTensors} reads back). */
export function modelStateDict(model: TransformerModel): Record<string, TensorToWrite> {
  return writeWithKeyTable(flattenTree(model.parameters), keyTableFor(model.config));
}

/** The config.json of a model in its layout, plus TIDE's own fields (`extra`, e.g. `{ tide: { … } }`). */
export function modelConfigJson(model: TransformerModel, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const c = model.config;
  if (c.layout === 'gpt2') {
    return {
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      n_embd: c.dModel,
      n_head: c.heads,
      n_layer: c.numLayers,
      n_positions: c.positions,
      n_ctx: c.positions,
      n_inner: c.dFeedforward,
      vocab_size: c.vocabSize,
      layer_norm_epsilon: c.epsilon,
      activation_function: c.activation === 'gelu' ? 'gelu' : 'gelu_new',
      ...(c.tokenizer?.type === 'chars' && { tide_tokenizer: { type: 'chars', alphabet: c.tokenizer.alphabet } }),
      ...extra,
      // The recommended discretisation survives a save, under what `extra` records in "tide".
      ...(c.recommended && {
        tide: {
          scheme: c.recommended.scheme,
          stepsPerLayer: c.recommended.stepsPerLayer,
          ...(extra['tide'] as Record<string, unknown> | undefined),
        },
      }),
      // Smooth controls: n_layer is the depth T; the weights hold K coefficient sets tide_controls.{k}.*.
      ...(c.controls && { tide_controls: { basis: c.controls.basis, coefficients: c.controls.coefficients } }),
      // A post-LN model trained by TIDE says so under "tide", whatever else `extra` records there.
      ...(!c.normFirst && {
        tide: {
          ...(c.recommended && { scheme: c.recommended.scheme, stepsPerLayer: c.recommended.stepsPerLayer }),
          ...(extra['tide'] as Record<string, unknown> | undefined),
          norm_first: false,
        },
      }),
    };
  }
  if (c.controls !== undefined) keyTableFor(c); // throws: smooth controls are stored in the GPT-2 layout only
  return {
    format: 'torch-transformer-encoder',
    d_model: c.dModel,
    nhead: c.heads,
    dim_feedforward: c.dFeedforward,
    num_layers: c.numLayers,
    activation: c.activation,
    norm_first: c.normFirst,
    layer_norm_eps: c.epsilon,
    causal: c.causal,
    final_norm: c.finalNorm,
    ...extra,
  };
}
