/**
 * `@tide/formats/node`: file-system helpers for Node (reading checkpoints and inputs, atomic writes). The
 * main entry `@tide/formats` reads and writes bytes and runs anywhere, the browser included.
 *
 * @packageDocumentation
 */
export { checkRegularFile, readSafetensorsFile, readJsonFile, writeFileAtomic } from './files.js';
export type { ReadJsonFileOptions, ReadSafetensorsFileOptions } from './files.js';
export { readCheckpointFolder, writeCheckpointFolder } from './checkpoint-folder.js';
export type { CheckpointFolder } from './checkpoint-folder.js';
