import pkg from '../package.json' with { type: 'json' }

/** Tessera's version, as reported by /version and `tessera version`. */
export const VERSION: string = `v${pkg.version}`
