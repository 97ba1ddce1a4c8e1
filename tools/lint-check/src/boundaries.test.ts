// The layer rule (the README's package table) is enforced by lint: imports may only point down the table.
// Each case lints a probe file placed (virtually) inside a package with the workspace's ESLint config
// and nx's project graph, exactly as `nx lint` does.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ESLint } from 'eslint';
import { createProjectGraphAsync } from '@nx/devkit';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
let eslint: ESLint;

beforeAll(async () => {
  await createProjectGraphAsync({ exitOnError: false }); // the rule reads the cached graph
  eslint = new ESLint({ cwd: root });
}, 180_000);

async function boundaryMessages(pkg: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, {
    filePath: join(root, 'packages', pkg, 'src', '__layer_probe__.ts'),
  });
  return result!.messages.filter((m) => m.ruleId === '@nx/enforce-module-boundaries').map((m) => m.message);
}

describe('module boundaries', () => {
  it('an upward import (backend → domain) fails lint', async () => {
    // domain already depends on backend, so nx reports the cycle; either way lint fails.
    const messages = await boundaryMessages(
      'backend',
      "import { tokenGrid } from '@tide/domain';\nexport const g = tokenGrid(2);\n",
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/Circular dependency between "@tide\/backend" and "@tide\/domain"|layer:backend/);
  });

  it('an import outside the allowed layers fails on the layer tags even without a cycle', async () => {
    const messages = await boundaryMessages('domain', "export { toolsLayerProbe } from '@tide/tools-lint-check';\n");
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(
      /A project tagged with "layer:domain" can only depend on libs tagged with "layer:backend"/,
    );
  });

  it('operators of the same layer may not import each other (attention → feedforward)', async () => {
    const messages = await boundaryMessages(
      'attention',
      "import { gelu } from '@tide/feedforward';\nexport const g = gelu;\n",
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(
      /A project tagged with "layer:operator" can only depend on libs tagged with "layer:domain", "layer:backend"/,
    );
  });

  it('the integration layers point down too: transformer → cli, formats → transformer, train → cli, vision ↔ transformer fail', async () => {
    const up = [
      ['vision', "import { forward } from '@tide/transformer';\nexport const f = forward;\n"],
      ['transformer', "import { visionForward } from '@tide/vision';\nexport const f = visionForward;\n"],
      ['transformer', "import { runCli } from '@tide/cli';\nexport const r = runCli;\n"],
      ['formats', "import { forward } from '@tide/transformer';\nexport const f = forward;\n"],
      ['train', "import { runCli } from '@tide/cli';\nexport const r = runCli;\n"],
    ] as const;
    for (const [pkg, source] of up) {
      const messages = await boundaryMessages(pkg, source);
      expect(messages, pkg).toHaveLength(1);
    }
  });

  it('library code is browser-safe: a node: import outside a ./node entry fails lint', async () => {
    const [result] = await eslint.lintText(
      "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;\n",
      { filePath: join(root, 'packages', 'transformer', 'src', '__layer_probe__.ts') },
    );
    expect(result!.messages.map((m) => m.ruleId)).toContain('no-restricted-imports');
    const [allowed] = await eslint.lintText(
      "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;\n",
      { filePath: join(root, 'packages', 'formats', 'src', 'node', '__layer_probe__.ts') },
    );
    expect(allowed!.messages.map((m) => m.ruleId)).not.toContain('no-restricted-imports');
  });

  it('a downward import (domain → backend) passes', async () => {
    const messages = await boundaryMessages(
      'domain',
      "import { tf } from '@tide/backend';\nexport const x = tf.scalar(1);\n",
    );
    expect(messages).toEqual([]);
  });
});
