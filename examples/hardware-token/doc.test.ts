/**
 * The complete code in docs/plugins.md ("Writing a credential method") is this example, byte for byte,
 * so the documented method cannot drift from the one the flow suite runs.
 */
import { describe, expect, it } from 'bun:test'

describe('docs/plugins.md: Writing a credential method', () => {
  it('shows examples/hardware-token/index.ts exactly', async () => {
    const doc = await Bun.file(new URL('../../docs/plugins.md', import.meta.url)).text()
    expect(doc).toContain('\n## Writing a credential method\n')
    const section = doc.slice(doc.indexOf('\n## Writing a credential method\n'))
    const snippet = /```ts\n([\s\S]*?)```/.exec(section)?.[1]
    expect(snippet).toBe(await Bun.file(new URL('./index.ts', import.meta.url)).text())
  })
})
