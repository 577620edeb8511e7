/** The compiled binary's entry (`bun run build`): the CLI with every first-party plugin bundled and imported up front. */
import { catalog } from '../plugins/catalog-static.ts'
import { main } from './main.ts'

await main(catalog)
