/**
 * Every plugin's options, validated strictly: an unknown key anywhere in them is a problem naming its path
 * and the nearest known key, as in the core config. Used by config loading (so that core and plugin
 * problems are reported together) and by the kernel at boot (which keeps the validated options).
 */
import type * as v from 'valibot'
import { isPluginEntry } from '../types.ts'
import { checkStrict } from './issues.ts'

const isEmpty = (x: unknown) => x === undefined || x === null || (typeof x === 'object' && Object.keys(x).length === 0)

/** Options per position of `plugins` (undefined where a plugin takes none or is not a plugin), and every problem. */
export function validatePluginOptions(plugins: readonly unknown[]): { options: unknown[]; problems: string[] } {
  const problems: string[] = []
  const options = plugins.map((entry, index) => {
    if (!isPluginEntry(entry)) return undefined
    // a PluginInstance (plugin.ts), seen through the entry it is: its definition's options schema and the user's input
    const inst = entry as typeof entry & { definition: { options?: unknown }; input: unknown }
    const schema = inst.definition.options as v.GenericSchema | undefined
    if (!schema) {
      if (!isEmpty(inst.input)) problems.push(`plugins[${index}].options: plugin \`${inst.id}\` takes no options`)
      return undefined
    }
    const r = checkStrict(schema, inst.input ?? {}, { prefix: ['plugins', index, 'options'] })
    if (!r.success) {
      problems.push(...r.problems)
      return undefined
    }
    return r.output as unknown
  })
  return { options, problems }
}
