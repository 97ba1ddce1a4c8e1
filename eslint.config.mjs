// Workspace lint: typescript-eslint plus nx's module-boundary rule.
// Layers follow the package table of the README: imports may only point down it.
import nx from '@nx/eslint-plugin';

/** Which layers a layer may import (the README's package table). */
const depConstraints = [
  { sourceTag: 'layer:backend', onlyDependOnLibsWithTags: [] },
  { sourceTag: 'layer:domain', onlyDependOnLibsWithTags: ['layer:backend'] },
  { sourceTag: 'layer:operator', onlyDependOnLibsWithTags: ['layer:domain', 'layer:backend'] },
  { sourceTag: 'layer:solver', onlyDependOnLibsWithTags: ['layer:domain', 'layer:backend'] },
  { sourceTag: 'layer:formats', onlyDependOnLibsWithTags: ['layer:backend'] },
  {
    sourceTag: 'layer:model',
    onlyDependOnLibsWithTags: [
      'layer:formats',
      'layer:operator',
      'layer:solver',
      'layer:domain',
      'layer:backend',
      'layer:fixtures',
    ],
  },
  {
    sourceTag: 'layer:train',
    onlyDependOnLibsWithTags: [
      'layer:model',
      'layer:formats',
      'layer:operator',
      'layer:solver',
      'layer:domain',
      'layer:backend',
      'layer:fixtures',
    ],
  },
  {
    sourceTag: 'layer:app',
    onlyDependOnLibsWithTags: [
      'layer:train',
      'layer:model',
      'layer:formats',
      'layer:operator',
      'layer:solver',
      'layer:domain',
      'layer:backend',
      'layer:fixtures',
    ],
  },
  // Reference fixtures (PyTorch outputs and the helpers that read them): test data any layer above formats may use.
  { sourceTag: 'layer:fixtures', onlyDependOnLibsWithTags: ['layer:formats', 'layer:backend'] },
  {
    sourceTag: 'layer:tools',
    onlyDependOnLibsWithTags: [
      'layer:app',
      'layer:train',
      'layer:model',
      'layer:formats',
      'layer:operator',
      'layer:solver',
      'layer:domain',
      'layer:backend',
      'layer:fixtures',
    ],
  },
];

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  ...nx.configs['flat/javascript'],
  {
    ignores: [
      '**/*.tmp.ts',
      '**/dist',
      '**/out-tsc',
      '**/node_modules',
      '**/*.tsbuildinfo',
      '**/vite.config.*.timestamp*',
      '**/vitest.config.*.timestamp*',
    ],
  },
  {
    files: ['**/*.ts', '**/*.mts', '**/*.js', '**/*.mjs'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints,
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // The library packages run anywhere, the browser included: Node's modules only behind a `node` entry
    // (`@tide/formats/node`, `@tide/transformer/node`), in test helpers and in tests.
    files: ['packages/{backend,domain,attention,feedforward,normalization,solvers,formats,transformer}/src/**/*.ts'],
    ignores: ['**/node.ts', '**/node/**', '**/testing/**', '**/*.test.ts', '**/*.fixture.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'os', 'child_process', 'url'],
              message: "library code runs in browsers too: put Node-only code behind the package's ./node entry",
            },
          ],
        },
      ],
    },
  },
  {
    // Tooling configs may reach the workspace root (shared vitest settings); they are not package code.
    files: ['**/vitest.config.ts', '**/vitest.*.config.ts', '**/eslint.config.mjs'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
];
