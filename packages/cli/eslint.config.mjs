import base from '../../eslint.config.mjs';

export default [
  ...base,
  {
    // `@tide/cli/study` runs in browsers (the playground): its modules may not import Node, the Vega runtime
    // (server-side rendering lives in report.ts) or the CLI's own modules; Vega-Lite only for its types.
    files: ['src/study-entry.ts', 'src/charts.ts', 'src/analysis.ts', 'src/study.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'os', 'child_process', 'url', 'stream'],
              message: '@tide/cli/study runs in browsers too: keep Node-only code in the CLI modules',
            },
            {
              group: [
                '@tide/*/node',
                'vega',
                'commander',
                'cli-progress',
                './cli.js',
                './commands.js',
                './report.js',
                './progress.js',
              ],
              message:
                '@tide/cli/study runs in browsers too: it may not pull the CLI, Node entries or the Vega runtime',
            },
            {
              group: ['vega-lite'],
              allowTypeImports: true,
              message: 'only types from vega-lite: the specs are plain JSON',
            },
          ],
        },
      ],
    },
  },
];
