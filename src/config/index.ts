// The configuration module's public surface.
export { CONFIG_BOUNDS, CONFIG_DEFAULTS } from './defaults.ts';
export { CONFIG_KEYS, type ConfigKeyDoc, keyLabel } from './keys.ts';
export { loadConfig } from './load.ts';
export { type ParseConfigOptions, parseConfig } from './parse.ts';
export type * from './types.ts';
