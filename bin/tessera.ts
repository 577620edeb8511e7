#!/usr/bin/env bun
/** `tessera …` from source: the catalog loads a first-party plugin when the config names it. */
import { catalog } from '../plugins/catalog.ts'
import { main } from './main.ts'

await main(catalog)
