import { describe, expect, it } from 'bun:test'
import { loadCatalog } from '../cli/index.ts'
import { catalogFactory } from '../core/config/load.ts'
import { isPluginFactory } from '../core/plugin.ts'
import { catalog } from './catalog.ts'
import { catalog as bundled } from './catalog-static.ts'

describe('the first-party plugin catalogs', () => {
  it('name the same plugins, and each lazy entry loads the very factory the compiled binary imports up front', async () => {
    expect(Object.keys(bundled).sort()).toEqual(Object.keys(catalog).sort())
    const loaded = await loadCatalog(catalog)
    for (const name of Object.keys(catalog)) {
      expect(isPluginFactory(loaded[name])).toBe(true)
      expect(loaded[name]).toBe(await catalogFactory(bundled[name]!))
      expect(loaded[name]!.definition.id).toBe(name)
    }
  })
})
