// Workspace lint: typescript-eslint plus nx's module-boundary rule.
// Layers follow the package table of the README: imports may only point down it.
import nx from '@nx/eslint-plugin';

/**
 * The layers, bottom up, and what each may import (the README's package table): every layer may import the
 * layers listed for it and everything those may import. Operators and solvers share a level and may not import
 * each other; fixtures are test data any model-level package may read.
 */
const directImports = {
  'layer:backend': [],
  'layer:domain': ['layer:backend'],
  'layer:operator': ['layer:domain'],
  'layer:solver': ['layer:domain'],
  'layer:formats': ['layer:backend'],
  'layer:fixtures': ['layer:formats'],
  'layer:model': ['layer:operator', 'layer:solver', 'layer:formats', 'layer:fixtures'],
  'layer:train': ['layer:model'],
  'layer:app': ['layer:train'],
  'layer:tools': ['layer:app'],
};
const reachable = (tag) => [...new Set((directImports[tag] ?? []).flatMap((t) => [t, ...reachable(t)]))];
const depConstraints = Object.keys(directImports).map((tag) => ({
  sourceTag: tag,
  onlyDependOnLibsWithTags: reachable(tag),
}));

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
          // @tide/backend's own subpath imports (package.json "imports": tfjs loaded with require in Node).
          allow: ['#tfjs-core', '#tfjs-backends'],
          depConstraints,
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // The library packages run anywhere, the browser included: Node's modules only behind a `node` entry
    // (`@tide/formats/node`, `@tide/transformer/node`, `@tide/vision/node`), in test helpers and in tests.
    files: [
      'packages/{backend,domain,attention,feedforward,normalization,solvers,formats,transformer,vision}/src/**/*.ts',
    ],
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
    files: ['**/vitest.config.ts', '**/vitest.*.config.ts', '**/vite.config.ts', '**/eslint.config.mjs'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
];
