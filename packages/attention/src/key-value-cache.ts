/**
 * A key/value cache for incremental causal solves (paper §3, the causal sub-domain; docs/integral-attention.md,
 * "Incremental causal solves").
 *
 * With the causal restriction, the attention output at a token x depends only on the keys and values at the
 * tokens x̃ ≤ x. When every other operator of a solve acts pointwise in x, the states of earlier tokens never
 * change when tokens are appended: the new tokens' solve needs only their own states and the keys and values
 * the earlier tokens had at the same attention evaluation. Discretely, the causal sub-domain of a new token
 * gains one quadrature point.
 *
 * A solve evaluates its attention operators in a fixed order (layers × steps × stages of the scheme). The
 * cache keeps, per evaluation — a *slot*, the n-th attention evaluation of a solve — the keys
 * `[B, H, N_past, d_k]` and values `[B, H, N_past, d_v]` of the tokens solved so far. A solve is one *pass*:
 * {@link KeyValueCache.reset} puts the cursor on slot 0, each attention evaluation with the cache takes the
 * next slot (its past keys and values) and stages the new tokens' ones; {@link KeyValueCache.commit} makes the
 * pass's tokens part of the past, {@link KeyValueCache.rollback} drops them (a failed solve leaves the cache
 * as it was). The cache owns every tensor it holds; {@link KeyValueCache.dispose} frees them.
 *
 * The cache knows nothing of models: whoever runs the solve resets and commits it (`@tide/transformer`'s
 * `forward` with `{ cache }`), and `IntegralAttention` with `{ cache }` evaluates through it.
 */
import { describeValue, formatShape, tf } from '@tide/backend';
import { ShapeError, interval, midpointRule, type Grid } from '@tide/domain';

/** The sizes of one slot: batch, heads, key and value widths. */
export interface KeyValueSlotSizes {
  readonly batch: number;
  readonly heads: number;
  readonly keyWidth: number;
  readonly valueWidth: number;
}

/** Counts of what the attention evaluations through a cache did (cumulative; see `resetStatistics`). */
export interface KeyValueCacheStatistics {
  /** Committed passes (solves). */
  passes: number;
  /** Attention evaluations (slots taken). */
  evaluations: number;
  /** Query rows per sample and head, summed over evaluations: the new tokens of each evaluation. */
  queries: number;
  /** Key rows per sample and head, summed over evaluations: past + new tokens of each evaluation. */
  keys: number;
}

/** What an attention evaluation gets from {@link KeyValueCache.claim}. */
export interface KeyValueClaim {
  /** The slot's index (the cursor before the claim). */
  readonly slot: number;
  /** Tokens already solved, N_past: the new tokens sit at positions N_past, N_past + 1, …. */
  readonly pastTokens: number;
  /** The past keys `[B, H, N_past, d_k]` and values `[B, H, N_past, d_v]`, or `undefined` when N_past = 0. Owned by the cache. */
  readonly keys: tf.Tensor4D | undefined;
  readonly values: tf.Tensor4D | undefined;
}

interface Slot extends KeyValueSlotSizes {
  keys: tf.Tensor4D | undefined; // [B, H, N_past, d_k]
  values: tf.Tensor4D | undefined; // [B, H, N_past, d_v]
  nextKeys: tf.Tensor4D | undefined; // [B, H, N_past + n, d_k]: staged by this pass
  nextValues: tf.Tensor4D | undefined; // [B, H, N_past + n, d_v]
}

/** Options of {@link KeyValueCache}. */
export interface KeyValueCacheOptions {
  /** A name for error messages (default `'key/value cache'`). */
  readonly label?: string;
}

const F32 = 4;

/**
 * Bytes a cache holds after its passes: `slots · B · H · N · (d_k + d_v) · 4` (float32). During a pass the
 * staged keys and values of the slots already evaluated are held besides the committed ones (up to twice this).
 */
export function keyValueCacheBytes(
  sizes: KeyValueSlotSizes & { readonly slots: number; readonly tokens: number },
): number {
  const { slots, batch, heads, keyWidth, valueWidth, tokens } = sizes;
  return slots * batch * heads * tokens * (keyWidth + valueWidth) * F32;
}

/**
 * The keys and values of the tokens a causal solve has already solved, one slot per attention evaluation of
 * the solve (module documentation). Not thread-safe across solves: one solve at a time uses a cache.
 */
export class KeyValueCache {
  readonly label: string;
  /** Counts of the evaluations through this cache. */
  readonly statistics: KeyValueCacheStatistics = { passes: 0, evaluations: 0, queries: 0, keys: 0 };
  private readonly slotList: Slot[] = [];
  private past = 0;
  private batchSize: number | undefined;
  private position = 0;
  private passOpen = false;
  private passTokens: number | undefined;
  private owner: string | undefined;
  private disposed = false;

  constructor(options: KeyValueCacheOptions = {}) {
    this.label = options?.label ?? 'key/value cache';
  }

  /** N_past: the tokens whose keys and values the cache holds (committed passes). */
  get tokens(): number {
    return this.past;
  }

  /** The next slot an attention evaluation takes in the open pass (0 after {@link reset}). */
  get cursor(): number {
    return this.position;
  }

  /** The number of slots (attention evaluations per solve); 0 before the first pass. */
  get slots(): number {
    return this.slotList.length;
  }

  /** The batch size B of the cached keys, or `undefined` while the cache is empty. */
  get batch(): number | undefined {
    return this.batchSize;
  }

  /** True between {@link reset} and {@link commit} / {@link rollback}. */
  get inPass(): boolean {
    return this.passOpen;
  }

  /** True after {@link dispose}. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Bytes of the tensors the cache holds now (committed and staged keys and values). */
  get bytes(): number {
    let total = 0;
    for (const s of this.slotList)
      for (const t of [s.keys, s.values, s.nextKeys, s.nextValues]) total += t === undefined ? 0 : t.size * F32;
    return total;
  }

  /**
   * The token grid of `n` tokens appended to the cached ones: midpoints of `[N_past, N_past + n]`, unit
   * weights (the standard grid continued). A field on it is what an attention evaluation with this cache takes.
   */
  nextTokenGrid(n: number): Grid {
    this.live('nextTokenGrid');
    return midpointRule(interval(this.past, this.past + n), n);
  }

  /**
   * Starts a pass (a solve): the cursor goes to slot 0 and anything staged by an unfinished pass is dropped.
   * `signature` names what the cache is for (e.g. a model and its discretisation): a cache that holds tokens
   * refuses a pass with another signature, since its slots would not match that solve's evaluations.
   * @throws ShapeError for a disposed cache or another signature
   */
  reset(signature?: string): void {
    this.live('reset');
    if (signature !== undefined && typeof signature !== 'string') {
      throw new ShapeError(`${this.label}: signature`, {
        expected: 'a string (what the cache is for) or nothing',
        received: describeValue(signature),
        fix: 'pass a description of the model and its discretisation, or omit it',
      });
    }
    this.dropStaged();
    if (this.past > 0 && signature !== undefined && this.owner !== undefined && signature !== this.owner) {
      throw new ShapeError(`${this.label}: pass`, {
        expected: `a solve of what the cache was filled by (${this.owner})`,
        received: signature,
        fix: 'use one cache per model and discretisation, or clear() it first',
      });
    }
    if (this.past === 0 || this.owner === undefined) this.owner = signature;
    this.position = 0;
    this.passTokens = undefined;
    this.passOpen = true;
  }

  /**
   * Ends a pass: the staged keys and values of every slot become the past, N_past grows by the pass's new
   * tokens. Returns the new N_past.
   * @throws ShapeError when no pass is open, when the pass evaluated no attention, or when it evaluated
   * another number of slots than the cache holds (a solve of another scheme); the cache is then unchanged
   */
  commit(): number {
    this.live('commit');
    if (!this.passOpen) {
      throw new ShapeError(`${this.label}: commit`, {
        expected: 'an open pass (reset() before the solve)',
        received: 'no pass',
        fix: 'call reset() before the solve and commit() after it, or use pass(body)',
      });
    }
    if (this.passTokens === undefined || this.position !== this.slotList.length) {
      const received =
        this.passTokens === undefined
          ? 'a pass with no attention evaluation'
          : `${this.position} of ${this.slotList.length} slots evaluated`;
      this.rollback();
      throw new ShapeError(`${this.label}: commit`, {
        expected: `a pass that evaluates every slot once (${this.slotList.length} attention evaluations)`,
        received,
        fix: 'run the same solve (model, scheme, steps) on every pass; clear() the cache to start another',
      });
    }
    for (const s of this.slotList) {
      tf.dispose([s.keys, s.values].filter((t): t is tf.Tensor4D => t !== undefined));
      s.keys = s.nextKeys;
      s.values = s.nextValues;
      s.nextKeys = undefined;
      s.nextValues = undefined;
    }
    this.past += this.passTokens;
    this.statistics.passes++;
    this.passOpen = false;
    this.passTokens = undefined;
    this.position = 0;
    return this.past;
  }

  /** Ends a pass without keeping it: the staged keys and values are freed, the cache is as before the pass. */
  rollback(): void {
    if (this.disposed) return;
    this.dropStaged();
    this.passOpen = false;
    this.passTokens = undefined;
    this.position = 0;
  }

  /** `reset(signature)`, `body()`, `commit()` — or `rollback()` when `body` throws. Returns what `body` returned. */
  pass<T>(body: () => T, signature?: string): T {
    this.reset(signature);
    let result: T;
    try {
      result = body();
    } catch (error) {
      this.rollback();
      throw error;
    }
    this.commit();
    return result;
  }

  /** Frees every key and value and forgets the slots: an empty cache (N_past = 0), as new. */
  clear(): void {
    this.live('clear');
    this.dropStaged();
    for (const s of this.slotList) tf.dispose([s.keys, s.values].filter((t): t is tf.Tensor4D => t !== undefined));
    this.slotList.length = 0;
    this.past = 0;
    this.batchSize = undefined;
    this.owner = undefined;
    this.passOpen = false;
    this.passTokens = undefined;
    this.position = 0;
  }

  /** Frees every tensor the cache holds; the cache cannot be used afterwards. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.clear();
    this.disposed = true;
  }

  /** Zeroes {@link statistics}. */
  resetStatistics(): void {
    Object.assign(this.statistics, { passes: 0, evaluations: 0, queries: 0, keys: 0 });
  }

  /**
   * Takes the next slot for an attention evaluation of `tokens` new tokens (an operator's call, not a user's):
   * checks the sizes against the slot's and returns its past keys and values.
   * @throws ShapeError outside a pass, for a batch, head count or width other than the cached ones, for another
   * number of new tokens than the pass's earlier evaluations, or for more evaluations than the cache has slots
   */
  claim(sizes: KeyValueSlotSizes & { readonly tokens: number }): KeyValueClaim {
    this.live('attention');
    if (!this.passOpen) {
      throw new ShapeError(`${this.label}: attention`, {
        expected: 'an open pass: reset() before the solve, commit() after it',
        received: 'an attention evaluation outside a pass',
        fix: 'call cache.reset() before the solve (forward with { cache } does), or wrap it in cache.pass(…)',
      });
    }
    const { batch, heads, keyWidth, valueWidth, tokens } = sizes;
    const index = this.position;
    if (this.batchSize !== undefined && batch !== this.batchSize) {
      throw new ShapeError(`${this.label}: batch`, {
        expected: `the cached batch size ${this.batchSize}`,
        received: `a field of batch ${batch} (slot ${index})`,
        fix: 'append tokens to the same sequences the cache holds, or use another cache',
      });
    }
    if (this.passTokens !== undefined && tokens !== this.passTokens) {
      throw new ShapeError(`${this.label}: new tokens`, {
        expected: `${this.passTokens} new token(s) in every attention evaluation of the pass`,
        received: `${tokens} at slot ${index}`,
        fix: 'operators of a causal solve keep the token count; evaluate one solve per pass',
      });
    }
    const known = this.slotList[index];
    if (known === undefined && this.past > 0) {
      throw new ShapeError(`${this.label}: slots`, {
        expected: `at most ${this.slotList.length} attention evaluations per solve (the cache's slots)`,
        received: `evaluation ${index + 1}`,
        fix: 'run the same solve (model, scheme, steps) on every pass; clear() the cache to start another',
      });
    }
    if (
      known !== undefined &&
      (known.heads !== heads || known.keyWidth !== keyWidth || known.valueWidth !== valueWidth)
    ) {
      throw new ShapeError(`${this.label}: slot ${index}`, {
        expected: `${known.heads} head(s) of key width ${known.keyWidth} and value width ${known.valueWidth} (the cached ones)`,
        received: `${heads} head(s) of key width ${keyWidth} and value width ${valueWidth}`,
        fix: 'evaluate the same operators in the same order on every pass',
      });
    }
    if (known !== undefined && known.nextKeys !== undefined) {
      throw new ShapeError(`${this.label}: slot ${index}`, {
        expected: 'one evaluation per slot and pass',
        received: 'a second evaluation of the slot',
        fix: 'reset() the cache at the start of every solve',
      });
    }
    const slot: Slot = known ?? {
      batch,
      heads,
      keyWidth,
      valueWidth,
      keys: undefined,
      values: undefined,
      nextKeys: undefined,
      nextValues: undefined,
    };
    if (known === undefined) this.slotList.push(slot);
    this.batchSize = batch;
    this.passTokens = tokens;
    this.position++;
    this.statistics.evaluations++;
    this.statistics.queries += tokens;
    this.statistics.keys += this.past + tokens;
    return { slot: index, pastTokens: this.past, keys: slot.keys, values: slot.values };
  }

  /**
   * Stages the keys `[B, H, N_past + n, d_k]` and values `[B, H, N_past + n, d_v]` of slot `slot` (past and new
   * tokens) for the commit; the cache takes ownership (they are kept out of any `tf.tidy`).
   */
  stage(slot: number, keys: tf.Tensor4D, values: tf.Tensor4D): void {
    this.live('attention');
    const s = this.slotList[slot];
    const tokens = this.past + (this.passTokens ?? 0);
    const fits = (t: tf.Tensor4D, width: number) =>
      t instanceof tf.Tensor &&
      t.rank === 4 &&
      t.shape[0] === s?.batch &&
      t.shape[1] === s.heads &&
      t.shape[2] === tokens &&
      t.shape[3] === width;
    if (
      s === undefined ||
      !this.passOpen ||
      s.nextKeys !== undefined ||
      !fits(keys, s.keyWidth) ||
      !fits(values, s.valueWidth)
    ) {
      throw new ShapeError(`${this.label}: stage`, {
        expected: `keys and values [B, H, ${tokens}, ·] for a claimed slot of the open pass`,
        received: `slot ${slot}, keys ${formatShape(keys?.shape ?? [])}, values ${formatShape(values?.shape ?? [])}`,
        fix: 'stage what the claim of this slot asked for, once',
      });
    }
    s.nextKeys = tf.keep(keys);
    s.nextValues = tf.keep(values);
  }

  private dropStaged(): void {
    for (const s of this.slotList) {
      tf.dispose([s.nextKeys, s.nextValues].filter((t): t is tf.Tensor4D => t !== undefined));
      s.nextKeys = undefined;
      s.nextValues = undefined;
    }
    // Slots created by an unfinished first pass hold nothing committed: forget them.
    if (this.past === 0) {
      this.slotList.length = 0;
      this.batchSize = undefined;
    }
  }

  private live(what: string): void {
    if (this.disposed) {
      throw new ShapeError(`${this.label}: ${what}`, {
        expected: 'a live cache',
        received: 'a disposed one',
        fix: 'create a new KeyValueCache',
      });
    }
  }
}
