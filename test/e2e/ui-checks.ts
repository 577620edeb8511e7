/**
 * Watching the ui plugin's pages in headless Chromium, shared by ui-pages.test.ts and ui-journeys.test.ts: no
 * request leaves the origin, at most 60 kB on the wire per page, `<html lang>`, axe-core (from node_modules, no
 * network) without serious or critical violations, a screenshot in .tmp/artifacts/ui/.
 */
import { expect } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { REPO } from '../helpers/process.ts'

export const ARTIFACTS = join(REPO, '.tmp/artifacts/ui')
const AXE = readFileSync(join(REPO, 'node_modules/axe-core/axe.min.js'), 'utf8')

export interface WatchOptions {
  /** The only origin requests may go to. */
  origin: string
  /** The browser context's locale. */
  locale: string
  /** The `<html lang>` every checked page must have. */
  lang: string
  /** Screenshots are named `<prefix>-NN-<step>.png`. */
  prefix: string
  /** Where the page size is asserted: on `check` (bytes since the last visit, check or reset; then zeroed) or at the end of `visit`. */
  sizeAt: 'check' | 'visit'
}

/** A browser context whose every page is watched: origin, bytes, `<html lang>`, axe, a screenshot. */
export async function watchedPage(browser: Browser, o: WatchOptions) {
  const context = await browser.newContext({ locale: o.locale })
  const page = await context.newPage()
  const foreign: string[] = []
  let bytes = 0
  page.on('request', (r) => {
    const u = r.url()
    if (!u.startsWith('data:') && new URL(u).origin !== o.origin) foreign.push(u)
  })
  page.on('response', async (r) => {
    try {
      bytes += (await r.body()).length
    } catch {}
  })
  let shot = 0
  /** Check the page the browser is on: origin, size, lang, axe; a screenshot named after the step. */
  const check = async (name: string) => {
    await page.waitForLoadState('load')
    expect(foreign).toEqual([])
    if (o.sizeAt === 'check') expect(bytes).toBeLessThan(60_000)
    expect(await page.evaluate(() => document.documentElement.lang)).toBe(o.lang)
    await page.evaluate(AXE)
    const violations = (await page.evaluate(async () => (await (window as any).axe.run(document, { resultTypes: ['violations'] })).violations)) as { id: string; impact: string; nodes: { html: string }[] }[]
    const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.html).join(' | ')}`)
    expect(bad).toEqual([])
    await page.screenshot({ path: join(ARTIFACTS, `${o.prefix}-${String(++shot).padStart(2, '0')}-${name}.png`), fullPage: true })
    if (o.sizeAt === 'check') bytes = 0
  }
  /** Navigate (and, with `sizeAt: 'visit'`, measure what this page cost on the wire). */
  const visit = async (url: string) => {
    bytes = 0
    await page.goto(url)
    await page.waitForLoadState('load')
    if (o.sizeAt === 'visit') expect(bytes).toBeLessThan(60_000)
  }
  return { context, page, check, visit, foreign, reset: () => (bytes = 0) }
}
