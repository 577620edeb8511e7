/** A bare Bun.serve hello world: the ceiling every Tessera endpoint is compared with. */
const server = Bun.serve({ port: Number(process.env.PORT ?? 0), hostname: '127.0.0.1', fetch: () => new Response('ok') })
console.log(`bare server on ${server.port}`)
