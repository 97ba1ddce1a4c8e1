/**
 * README examples are code: {@link readmeExamples} extracts the ```ts blocks of a markdown file, and
 * {@link runReadmeExamples} writes each to a module beside the README and imports it, so a stale example
 * fails the suite. (Node only: it loads `node:fs` lazily, so importing this module in a browser is harmless.)
 */

/**
 * The bodies of the ```ts (or ```typescript) fenced blocks of a markdown text, in order. A fence that carries
 * more than the language (```ts title="x.test.ts") is an illustration: shown, not run.
 */
export function readmeExamples(markdown: string): string[] {
  const blocks: string[] = [];
  const fence = /^```(ts|typescript)\s*\n([\s\S]*?)^```\s*$/gm;
  for (let m = fence.exec(markdown); m !== null; m = fence.exec(markdown)) blocks.push(m[2]!);
  return blocks;
}

/**
 * Runs every TypeScript example of `<packageDir>/README.md` (each as `.readme-example-N.tmp.ts` in
 * `packageDir`, outside `src/`, removed afterwards). Returns the number of examples; throws when there are none.
 */
export async function runReadmeExamples(packageDir: string): Promise<number> {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const examples = readmeExamples(fs.readFileSync(path.join(packageDir, 'README.md'), 'utf8'));
  if (examples.length === 0) throw new Error(`${packageDir}/README.md has no \`\`\`ts example`);
  for (const [i, code] of examples.entries()) {
    const file = path.join(packageDir, `.readme-example-${i}.tmp.ts`);
    fs.writeFileSync(file, `${code}\nexport {};\n`);
    try {
      await import(/* @vite-ignore */ file);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }
  return examples.length;
}
