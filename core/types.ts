/**
 * Small types the contracts share. This file imports nothing, so every contract (plugin, pipeline, flows,
 * config) can depend on it without depending on each other.
 */

export type Awaitable<T> = T | Promise<T>

/** The two listeners every Tessera serves. */
export type Listener = 'public' | 'admin'

/** Marks plugin instances; `Symbol.for`, so that two copies of the core still recognise each other's. */
export const PLUGIN = Symbol.for('tessera.plugin')

/** A plugin as a config holds it: made by calling a plugin factory (`PluginInstance` in plugin.ts says the rest). */
export interface PluginEntry {
  readonly [PLUGIN]: true
  readonly id: string
}

export function isPluginEntry(x: unknown): x is PluginEntry {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[PLUGIN] === true
}
