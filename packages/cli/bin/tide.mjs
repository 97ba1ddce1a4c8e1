#!/usr/bin/env node
// The `tide` command (see `tide --help`). Runs the built package (dist/).
import { runCli } from '../dist/cli.js';

process.exitCode = await runCli(process.argv.slice(2));
