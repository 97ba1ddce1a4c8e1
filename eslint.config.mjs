// Workspace lint: typescript-eslint plus nx's module-boundary rule.
// Layers follow SPEC §3: imports may only point down the package table.
import nx from '@nx/eslint-plugin';

/** Which layers a layer may import (SPEC §3). */
const depConstraints = [
  { sourceTag: 'layer:backend', onlyDependOnLibsWithTags: [] },
  { sourceTag: 'layer:domain', onlyDependOnLibsWithTags: ['layer:backend'] },
  { sourceTag: 'layer:operator', onlyDependOnLibsWithTags: ['layer:domain', 'layer:backend'] },
  { sourceTag: 'layer:solver', onlyDependOnLibsWithTags: ['layer:domain', 'layer:backend'] },
  {
    sourceTag: 'layer:integration',
    onlyDependOnLibsWithTags: ['layer:operator', 'layer:solver', 'layer:domain', 'layer:backend'],
  },
  {
    sourceTag: 'layer:tools',
    onlyDependOnLibsWithTags: ['layer:integration', 'layer:operator', 'layer:solver', 'layer:domain', 'layer:backend'],
  },
];

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  ...nx.configs['flat/javascript'],
  {
    ignores: ['**/*.tmp.ts', '**/dist', '**/out-tsc', '**/node_modules', '**/*.tsbuildinfo', '**/vite.config.*.timestamp*', '**/vitest.config.*.timestamp*'],
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
    // Tooling configs may reach the workspace root (shared vitest settings); they are not package code.
    files: ['**/vitest.config.ts', '**/vitest.*.config.ts', '**/eslint.config.mjs'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
];
