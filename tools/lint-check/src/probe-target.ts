/**
 * A target for the boundary test: a tools-layer module that no package may import. It depends on
 * nothing in the workspace, so importing it from a package breaks only the layer rule (no cycle).
 */
export const toolsLayerProbe = 'tools';
