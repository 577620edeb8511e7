/**
 * Watching the ui plugin's pages in headless Chromium, shared by the ui suites: no request leaves the origin, at
 * most 60 kB on the wire per page, `<html lang>`, axe-core (from node_modules, no network) without serious or
 * critical violations, every visible field with a label, every error announced, no English left on a page in
 * another language, and a screenshot in .tmp/artifacts/ui/.
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
  /** The browser context's locale (what it sends as Accept-Language). */
  locale: string
  /** The `<html lang>` every checked page must have. */
  lang: string
  /** Screenshots are named `<prefix>-NN-<step>.png`. */
  prefix: string
  /**
   * Where the page's size is asserted (its document with the inline CSS and every script and image it loaded, as
   * the browser's resource timing counts them): on `check`, or at the end of `visit` too.
   */
  sizeAt: 'check' | 'visit'
  /** A screenshot counter shared by several contexts with the same prefix (so their numbers do not collide). */
  shots?: { n: number }
}

/** What a checked page must not have besides axe's violations. */
export interface PageProblems {
  /** Visible inputs, selects and text areas without an accessible name. */
  unlabelled: string[]
  /** Error texts neither in a live region (role=alert or status, aria-live) nor a field's description. */
  unannounced: string[]
  /** Fields marked aria-invalid whose description (aria-describedby) does not hold their error. */
  undescribed: string[]
  /** English words on a page in another language. */
  english: string[]
}

/**
 * A few English words no German, Russian or Chinese sentence contains: one of them on such a page is a text that
 * was not translated (a server message shown as sent, a catalogue's English fallback).
 */
const ENGLISH = ['the', 'and', 'your', 'you', 'please', 'are', 'with', 'this', 'has', 'have', 'been', 'could', 'can', 'for', 'of', 'not', 'sign', 'password', 'account', 'settings', 'save', 'submit', 'continue', 'verify', 'email']

/**
 * The bytes of the page the browser is on, on the wire: its document (with the inline CSS) and every script, style
 * and image it loaded, each as transferred or, when the cache answered, its encoded body.
 */
const pageBytes = () =>
  (performance.getEntriesByType('navigation') as PerformanceResourceTiming[])
    .concat(performance.getEntriesByType('resource') as PerformanceResourceTiming[])
    .reduce((sum, e) => sum + Math.max(e.transferSize, e.encodedBodySize), 0)

/** Runs in the page (axe is there from the context's init script): `<html lang>`, axe's violations, and the problems above. */
const inPage = async ({ english, words }: { english: boolean; words: string[] }) => {
  const visible = (el: Element) => {
    const r = (el as HTMLElement).getBoundingClientRect()
    const s = getComputedStyle(el)
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'
  }
  const describe = (el: Element) => el.outerHTML.slice(0, 160)
  const text = (el: Element | null) => (el?.textContent ?? '').replace(/\s+/g, ' ').trim()
  const byIds = (ids: string | null) => (ids ?? '').split(/\s+/).filter(Boolean).map((id) => document.getElementById(id))
  // every field a person fills in has a name a screen reader reads: a <label>, aria-labelledby or aria-label
  const fields = [...document.querySelectorAll('input, select, textarea')].filter((el) => !['hidden', 'submit', 'button', 'reset', 'image'].includes((el as HTMLInputElement).type) && visible(el))
  const unlabelled = fields
    .filter((el) => {
      const fromLabels = [...((el as HTMLInputElement).labels ?? [])].map(text).join('')
      const fromIds = byIds(el.getAttribute('aria-labelledby')).map(text).join('')
      return !(fromLabels || fromIds || (el.getAttribute('aria-label') ?? '').trim())
    })
    .map(describe)
  // every error is announced: in a live region, or the description of the field it is about
  const live = (el: Element) => !!el.closest('[role=alert], [role=status], [aria-live=polite], [aria-live=assertive]')
  const described = fields.flatMap((f) => byIds(f.getAttribute('aria-describedby'))).filter((d): d is HTMLElement => !!d)
  const errors = [...document.querySelectorAll('.msg.error, .field-msg, #error')].filter(visible)
  const unannounced = errors.filter((e) => !live(e) && !described.some((d) => d.contains(e))).map(describe)
  // a field marked invalid says why: its description holds the error, read when the field gets focus
  const undescribed = [...document.querySelectorAll('[aria-invalid=true]')]
    .filter((f) => !byIds(f.getAttribute('aria-describedby')).some((d) => d && visible(d) && (d.matches('.field-msg, .msg.error') || d.querySelector('.field-msg, .msg.error'))))
    .map(describe)
  // what a person reads or hears: the title, the visible text, alt texts and labels given by attribute
  const found = new Set<string>()
  if (english) {
    const readable: string[] = [document.title]
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement
      // data, not page text: codes and secrets, the mails in the outbox (in their recipients' languages), the language names
      if (!el || !visible(el) || el.closest('pre, code, .secret, script, style, footer, .mail h2')) continue
      // a passage the page itself marks as English (WCAG 3.1.2, language of parts): an OAuth2 error's technical
      // description beside the translated message
      if (el.closest('[lang]')?.getAttribute('lang')?.startsWith('en')) continue
      readable.push(n.textContent ?? '')
    }
    for (const el of document.querySelectorAll('[alt], [aria-label], [placeholder], [title]')) {
      if (!el.closest('footer')) for (const a of ['alt', 'aria-label', 'placeholder', 'title']) readable.push(el.getAttribute(a) ?? '')
    }
    for (const t of readable) {
      for (const w of t.replace(/\S+@\S+/g, ' ').toLowerCase().split(/[^a-z]+/)) if (words.includes(w)) found.add(`${w} in “${t.trim().slice(0, 120)}”`)
    }
  }
  // every rule axe has for WCAG A and AA and best practice, `label` (every input has a label) among them
  const axe = await (window as any).axe.run(document, { resultTypes: ['violations'] })
  const ran = [...axe.passes, ...axe.violations, ...axe.incomplete, ...axe.inapplicable].map((x: { id: string }) => x.id)
  const serious = (axe.violations as { id: string; impact: string; nodes: { html: string }[] }[]).filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.html).join(' | ')}`)
  return { lang: document.documentElement.lang, labelRuleRan: ran.includes('label'), serious, problems: { unlabelled, unannounced, undescribed, english: [...found] } as PageProblems }
}

/** A browser context whose every page is watched: origin, bytes, `<html lang>`, axe, labels, errors, language, a screenshot. */
export async function watchedPage(browser: Browser, o: WatchOptions) {
  const context = await browser.newContext({ locale: o.locale })
  // axe-core in every document before the page's own scripts (the page's CSP does not apply to it)
  await context.addInitScript(AXE)
  const page = await context.newPage()
  const foreign: string[] = []
  // every page of the context (a second tab too): nothing may leave the origin
  context.on('request', (r) => {
    const u = r.url()
    if (!u.startsWith('data:') && new URL(u).origin !== o.origin) foreign.push(u)
  })
  const shots = o.shots ?? { n: 0 }
  const english = !o.lang.startsWith('en')
  /** Check the page the browser is on (loaded: after `visit` or a navigation the caller waited for); a screenshot named after the step. */
  const check = async (name: string) => {
    expect(foreign).toEqual([])
    expect(await page.evaluate(pageBytes)).toBeLessThan(60_000)
    const seen = await page.evaluate(inPage, { english, words: ENGLISH })
    expect(seen.lang).toBe(o.lang)
    expect(seen.labelRuleRan).toBe(true)
    expect(seen.serious).toEqual([])
    expect(seen.problems).toEqual({ unlabelled: [], unannounced: [], undescribed: [], english: [] })
    await page.screenshot({ path: join(ARTIFACTS, `${o.prefix}-${String(++shots.n).padStart(2, '0')}-${name}.png`), fullPage: true })
  }
  /** Navigate (and, with `sizeAt: 'visit'`, measure what this page cost on the wire). */
  const visit = async (url: string) => {
    await page.goto(url)
    await page.waitForLoadState('load')
    if (o.sizeAt === 'visit') expect(await page.evaluate(pageBytes)).toBeLessThan(60_000)
  }
  /** (Sizes are per page now, counted by the page itself: nothing to reset; kept for the suites that call it.) */
  const reset = () => {}
  return { context, page, check, visit, foreign, reset }
}
