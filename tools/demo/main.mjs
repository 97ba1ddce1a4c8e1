#!/usr/bin/env node
// `npm start`: the quick start's main job. Builds the packages, then runs `tide run` on the embedded default
// model (packages/cli/models/default): text generated with the exact scheme, then the same tokens
// re-solved over depth with refined schemes, with how far the logits move and the wall time of each.
import { buildPackages } from './build.mjs';

buildPackages();
const { runCli } = await import('@tide/cli');
process.exitCode = await runCli(['run', ...process.argv.slice(2)]);
