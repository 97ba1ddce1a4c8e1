/**
 * `@tide/attention`: self-attention as a non-local integral operator over the token domain (paper §3;
 * docs/integral-attention.md): the kernel γ(x, x̃) normalised with the grid's quadrature weights, heads as a discretised
 * head integral, causal sub-domains, and kernel inspection.
 *
 * @packageDocumentation
 */
export {
  integralAttention,
  attentionKernel,
  attentionWeights,
  foldedValueMaps,
  attentionPath,
  blockedThreshold,
  IntegralAttention,
  incrementalAttention,
} from './integral-attention.js';
export type { IntegralAttentionOptions } from './integral-attention.js';
export { KeyValueCache, keyValueCacheBytes } from './key-value-cache.js';
export type {
  KeyValueCacheOptions,
  KeyValueCacheStatistics,
  KeyValueClaim,
  KeyValueSlotSizes,
} from './key-value-cache.js';
export { integralAttentionAt } from './attention-at.js';
export { mappedAttention, mappedAttentionWeights, MappedAttention } from './mapped-attention.js';
export type { AttentionMaps } from './mapped-attention.js';
export { fromTorchMultiheadAttention } from './torch-multihead-attention.js';
export type { TorchMultiheadAttention } from './torch-multihead-attention.js';
export { attentionSizes, BLOCKED_THRESHOLD } from './parameters.js';
export type { AttentionParameters, AttentionOptions, AttentionSizes } from './parameters.js';
export { quadratureScoreBias, quadratureLogWeights, MASKED_SCORE } from './quadrature-bias.js';
