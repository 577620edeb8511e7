/**
 * A bare Bun.serve: the ceiling every Tessera endpoint is compared with. `MODE=form` reads a form-encoded body
 * and answers a small JSON object (no storage, no hashing): the least any POST endpoint that reads its
 * parameters, such as token introspection, can do on Bun.
 */
const form = process.env.MODE === 'form'
const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: '127.0.0.1',
  fetch: form
    ? async (request) => {
        if (request.method !== 'POST') return new Response('ok')
        const params = new URLSearchParams(await request.text())
        return Response.json({ active: params.get('token') !== null })
      }
    : () => new Response('ok'),
})
console.log(`bare server on ${server.port}`)
