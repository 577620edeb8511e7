/**
 * The stylesheet: system fonts (no external requests), CSS custom properties for every colour, light and dark by
 * `prefers-color-scheme`; the configured palette overrides the defaults.
 */
import type { Palette, UiOptions } from './options.ts'

const LIGHT: Required<Palette> = { accent: '#2f5bea', accentText: '#ffffff', background: '#f4f5f7', surface: '#ffffff', text: '#16181d', muted: '#5b6270', error: '#b3261e', success: '#1e7a3c' }
const DARK: Required<Palette> = { accent: '#8ea8ff', accentText: '#0b1020', background: '#111318', surface: '#1b1e25', text: '#eceef2', muted: '#a3a9b6', error: '#ff8a80', success: '#7bd88f' }

const vars = (p: Required<Palette>) =>
  Object.entries(p)
    .map(([k, v]) => `--t-${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}:${v}`)
    .join(';')

export function stylesheet(o: UiOptions): string {
  const light = { ...LIGHT, ...o.colors.light }
  const dark = { ...DARK, ...o.colors.dark }
  return `:root{${vars(light)};color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{${vars(dark)}}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","PingFang SC","Microsoft YaHei",sans-serif;background:var(--t-background);color:var(--t-text)}
a{color:var(--t-accent)}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:var(--t-surface);padding:.5rem}
header{display:flex;align-items:center;justify-content:space-between;gap:1rem;padding:.75rem 1.25rem;flex-wrap:wrap}
header .brand{display:flex;align-items:center;gap:.5rem;font-weight:600;color:var(--t-text);text-decoration:none}
header img{height:28px;width:auto}
nav ul{display:flex;gap:1rem;list-style:none;margin:0;padding:0;flex-wrap:wrap}
main{max-width:30rem;margin:1rem auto 3rem;padding:0 1rem}
.card{background:var(--t-surface);border-radius:12px;padding:1.5rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.5rem;margin:0 0 1rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
section~section{border-top:1px solid color-mix(in srgb,var(--t-muted) 35%,transparent);margin-top:1.25rem}
label{display:block;margin:.75rem 0 .25rem;font-weight:500}
input[type=text],input[type=email],input[type=password],input[type=tel],input[type=number],input[type=url],input[type=date],input:not([type]){width:100%;padding:.6rem .7rem;border:1px solid var(--t-muted);border-radius:8px;background:var(--t-background);color:var(--t-text);font:inherit}
input:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid var(--t-accent);outline-offset:2px}
.check{display:flex;gap:.5rem;align-items:center;font-weight:400}
button{display:block;width:100%;margin-top:1rem;padding:.65rem 1rem;border:0;border-radius:8px;background:var(--t-accent);color:var(--t-accent-text);font:inherit;font-weight:600;cursor:pointer}
button.secondary{background:transparent;color:var(--t-accent);border:1px solid var(--t-accent)}
.msg{padding:.6rem .8rem;border-radius:8px;margin:.5rem 0;border-left:4px solid var(--t-muted)}
.msg.error{border-color:var(--t-error);color:var(--t-error)}
.msg.success{border-color:var(--t-success);color:var(--t-success)}
.field-msg{margin:.25rem 0 0;font-size:.9rem;color:var(--t-error)}
.muted{color:var(--t-muted)}
.links{margin-top:1.25rem;display:flex;flex-direction:column;gap:.4rem}
code,.secret{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
ul.codes{display:grid;grid-template-columns:1fr 1fr;gap:.25rem;padding:0;list-style:none}
.qr{display:block;margin:.5rem auto;background:#fff;padding:8px;border-radius:8px;max-width:220px;width:100%;height:auto}
table{width:100%;border-collapse:collapse}td,th{text-align:left;padding:.4rem;border-bottom:1px solid color-mix(in srgb,var(--t-muted) 35%,transparent);vertical-align:top}
pre{white-space:pre-wrap;word-break:break-word;font-size:.9rem}
footer{text-align:center;padding:1rem;font-size:.9rem}
footer ul{display:flex;gap:1rem;justify-content:center;list-style:none;padding:0}
.logo-fallback{display:inline-grid;place-items:center;width:48px;height:48px;border-radius:12px;background:var(--t-accent);color:var(--t-accent-text);font-weight:700;font-size:1.4rem}
`
}

/** The built-in mark: an inline SVG, so no request is made for it. */
export const DEFAULT_LOGO = `data:image/svg+xml,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" fill="#2f5bea"/><path d="M8 8h16v4h-6v12h-4V12H8z" fill="#fff"/></svg>')}`
