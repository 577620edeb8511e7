/**
 * Public routes, Kratos' paths and shapes: schemas, whoami and sessions,
 * self-service login / registration (API, browser, SPA) and logout.
 */
import { type AuthenticatorAssuranceLevel, BadRequestError, type CredentialMethod, type FlowKind, type IdentityAddress, type LoginOutcome, type FlowType, type RequestContext, type RouteApp, type ScopedDb, type SelfServiceFlow, TesseraError, type UiText, constantTimeEqual, renderError } from 'tessera'
import { type IdentityCore, cookie } from './core.ts'
import type { ActiveSession, LoginContext } from 'tessera'
import { aal2Required, aalRank, anySecondFactor, availableAal, stepUpUrl } from './aal.ts'
import { CSRF_COOKIE, CSRF_COOKIE_HOST, type FlowEngine, csrfViolation, flowExpiredResponse, nestBody } from './engine.ts'
import { text } from './messages.ts'
import { IdentityRepo, type IdentityRow, SessionRepo } from './repo.ts'
import { identifiersOf, validateTraits } from './schemas.ts'
import { SessionTokenizer } from './tokenize.ts'
import { type IdentityLogin, LOGIN_CHALLENGE } from './login-challenge.ts'
import { AddressRepo } from './addresses.ts'
import { addressFlowRoutes, page } from './routes-flows.ts'
import { createOrForward, flowErrorRoutes } from './flow-errors.ts'

const KINDS = ['login', 'registration'] as const
const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' }

export const wantsJson = (request: Request) => /application\/json/i.test(request.headers.get('accept') ?? '')

export function json(body: unknown, status = 200, headers: Record<string, string> | [string, string][] = {}): Response {
  const h = new Headers(headers as HeadersInit)
  h.set('content-type', JSON_HEADERS['content-type'])
  return new Response(JSON.stringify(body), { status, headers: h })
}

export function redirect(location: string, cookies: string[] = []): Response {
  const h = new Headers({ location })
  for (const c of cookies) h.append('set-cookie', c)
  return new Response(null, { status: 303, headers: h })
}

export type Ip = { requestIP?(r: Request): { address: string } | null } | null | undefined
/**
 * The client address: the core's request context (the socket peer, or behind `serve.trustedProxies` the client
 * X-Forwarded-For names), else Elysia's server when embedded without a peer lookup.
 */
export const ipOf = (server: Ip, request: Request, rc: RequestContext) => rc.clientAddress ?? server?.requestIP?.(request)?.address ?? null

/**
 * The CSRF cookie: Secure whenever the public base URL (or the request) is https, and then named with the
 * `__Host-` prefix (Path=/, no Domain). A plain-named cookie the browser still holds is cleared: the new one
 * carries the same value.
 */
export function csrfCookies(csrf: string, request: Request, publicBaseUrl: string): [string, string][] {
  const secure = publicBaseUrl.startsWith('https:') || new URL(request.url).protocol === 'https:'
  if (!secure) return [['set-cookie', `${CSRF_COOKIE}=${csrf}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000`]]
  const out: [string, string][] = [['set-cookie', `${CSRF_COOKIE_HOST}=${csrf}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000; Secure`]]
  if (cookie(request, CSRF_COOKIE) !== null) out.push(['set-cookie', `${CSRF_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure`])
  return out
}

/**
 * The answer to a new flow: the flow itself (API), the flow with the CSRF cookie (SPA: Accept: application/json), or a
 * redirect to the flow's UI page with the cookie (browser).
 */
export function answerNewFlow(engine: FlowEngine, kind: FlowKind, type: FlowType, created: { flow: SelfServiceFlow; csrf: string }, request: Request, publicBaseUrl: string): Response {
  if (type === 'api') return json(created.flow)
  const set = csrfCookies(created.csrf, request, publicBaseUrl)
  if (wantsJson(request)) return json(created.flow, 200, set)
  return redirect(engine.uiUrl(kind, created.flow.id, publicBaseUrl), set.map(([, c]) => c))
}

export function publicRoutes(app: RouteApp, core: IdentityCore, engine: FlowEngine, login?: IdentityLogin) {
  const opts = core.ctx.options.selfservice
  const tokenizer = new SessionTokenizer(core)
  // Settings, recovery and verification (routes-flows.ts); login and registration links land here too.
  const flows = addressFlowRoutes(app, core, engine, { loginOutcome: (...a) => loginOutcome(...a) })
  flowErrorRoutes(app)

  /** Answer a flow that failed validation: 400 with the flow (API, SPA), or back to the UI (browser form). */
  const showFlow = async (kind: FlowKind, flow: SelfServiceFlow, request: Request) =>
    flow.type === 'browser' && !wantsJson(request) ? redirect(engine.uiUrl(kind, flow.id, (await core.baseUrlOf(request)))) : json(flow, 400)

  const submitError = (kind: FlowKind, flow: SelfServiceFlow, request: Request, e: unknown, rc: RequestContext) => {
    // a server error is logged with its cause and answered with the request id, as every other route's is
    if (!(e instanceof TesseraError) || e.status >= 500) rc.log.error('request failed', { err: e, path: `/self-service/${kind}`, method: request.method })
    else if (flow.type === 'browser' && !wantsJson(request) && e.status !== 403 && e.status !== 429) return redirect(engine.uiUrl(kind, flow.id, rc.publicBaseUrl))
    return renderError(e, rc.requestId)
  }

  /** Kratos' login and registration hooks: a browser flow submitted as JSON is told where to send the browser next. */
  const redirectBrowserTo = (flow: SelfServiceFlow, base: string) => [{ action: 'redirect_browser_to', redirect_browser_to: flow.return_to ?? engine.defaultReturnUrl(base) }]

  async function finishLogin(db: ScopedDb, flow: SelfServiceFlow, identity: IdentityRow, method: string, aal: AuthenticatorAssuranceLevel, request: Request, ip: string | null, extra: Record<string, unknown> = {}) {
    const issued = await core.issueSession(db, identity, method, request, ip, aal)
    if (opts.loginAfter.includes('revoke_active_sessions') || extra.revoke) await new SessionRepo(db).deactivateAll(identity.id, issued.row.id)
    const cookieHeader = core.sessionCookie(issued.token, request, core.ctx.options.session.lifespan)
    const more = (extra.continueWith as Record<string, unknown>[] | undefined) ?? []
    if (flow.type === 'api') {
      const continueWith = extra.setToken || more.length ? { continue_with: [...more, ...(extra.setToken ? [{ action: 'set_ory_session_token', ory_session_token: issued.token }] : [])] } : {}
      return { issued, response: json({ session_token: issued.token, session: issued.json, ...(extra.body as object), ...continueWith }) }
    }
    // An identity with a second factor is sent on to step up first (whoami would refuse its aal1 session).
    const stepUp = aal === 'aal1' && core.ctx.options.session.whoamiRequiredAal === 'highest_available' && anySecondFactor(core.ctx.registries.credentialMethods) && (await availableAal(db, core.ctx.registries.credentialMethods, identity.id)) === 'aal2'
    // a login for an OAuth 2.0 provider (Kratos' oauth2_provider): the provider says where the browser goes next
    const after = flow.return_to ?? engine.defaultReturnUrl((await core.baseUrlOf(request)))
    const next = stepUp ? stepUpUrl((await core.ctx.requestContext(request)).publicBaseUrl, after) : ((await login?.after(db.nid, flow.oauth2_login_challenge, await core.fromToken(issued.token, db.nid), request)) ?? after)
    if (wantsJson(request)) return { issued, response: json({ session: issued.json, ...(extra.body as object), continue_with: [...more, { action: 'redirect_browser_to', redirect_browser_to: next }] }, 200, [['set-cookie', cookieHeader]]) }
    return { issued, response: redirect(next, [cookieHeader]) }
  }

  /** A step-up or refresh of the request's session: the same session (and token) gains the method. */
  async function finishStepUp(db: ScopedDb, flow: SelfServiceFlow, current: ActiveSession, methodId: string, aal: AuthenticatorAssuranceLevel, request: Request) {
    const token = core.tokenOf(request)!
    const upgraded = await core.upgradeSession(db, current.id, methodId, aal)
    if (flow.type === 'api') return json({ session_token: token, session: upgraded.json })
    const next = (await login?.after(db.nid, flow.oauth2_login_challenge, await core.fromToken(token, db.nid), request)) ?? flow.return_to ?? engine.defaultReturnUrl((await core.baseUrlOf(request)))
    if (wantsJson(request)) return json({ session: upgraded.json, continue_with: [{ action: 'redirect_browser_to', redirect_browser_to: next }] })
    return redirect(next)
  }

  /** The assurance a login flow asks for. */
  const flowAal = (flow: SelfServiceFlow): AuthenticatorAssuranceLevel => (flow.requested_aal === 'aal2' ? 'aal2' : 'aal1')

  /** What a login method is told about its flow; null when the flow steps up a session the request does not carry. */
  async function loginContextOf(flow: SelfServiceFlow, request: Request, tenant: string): Promise<LoginContext | null> {
    const requestedAal = flowAal(flow)
    const refresh = flow.refresh === true
    if (requestedAal === 'aal1' && !refresh) return { requestedAal, refresh }
    const s = await core.fromRequest(request, tenant)
    if (!s) return requestedAal === 'aal1' ? { requestedAal, refresh: false } : null
    return { requestedAal, refresh, identityId: s.identityId }
  }

  /** An expired login flow is made again at the same assurance, for the same session. */
  async function sameAal(flow: SelfServiceFlow, request: Request, tenant: string) {
    const c = await loginContextOf(flow, request, tenant)
    return c ? { requestedAal: c.requestedAal, refresh: c.refresh && !!c.identityId, sessionIdentityId: c.identityId } : {}
  }

  for (const kind of KINDS) {
    // Create a flow: API and browser (+ SPA with Accept: application/json).
    for (const type of ['api', 'browser'] as FlowType[]) {
      app.get(`/self-service/${kind}/${type}`, async ({ request, tessera, query, server }) => {
        const q = query as Record<string, string | undefined>
        const requestedAal = kind === 'login' ? parseAal(q.aal) : 'aal1'
        const refresh = kind === 'login' && q.refresh === 'true'
        // API clients are signed in by a token header; a browser by its cookie.
        const existing = type === 'browser' || request.headers.get('x-session-token') || request.headers.get('authorization') ? await core.fromRequest(request, tessera.tenant) : null
        // Kratos: aal2 is a step-up of a session; without one it is 401 session_aal1_required.
        if (requestedAal !== 'aal1' && !existing) return renderError(aal1Required(), tessera.requestId)
        if (type === 'browser') {
          // Kratos: login and registration flows carry an OAuth 2.0 provider's login challenge (sign up mid-authorization)
          const challenge = (kind === 'login' || kind === 'registration') && q.login_challenge !== undefined ? q.login_challenge : undefined
          if (challenge !== undefined && !LOGIN_CHALLENGE.test(challenge)) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: 'login_challenge is malformed.' })
          if (existing && !refresh && aalRank(existing.aal) >= aalRank(requestedAal)) {
            // Kratos: a session that exists already completes a provider's login challenge at once
            const next = challenge ? await login?.after(tessera.tenant, challenge, existing, request) : null
            if (next) return redirect(next)
            // Kratos: an authenticated browser is sent on (SPA: 400 session_already_available).
            if (wantsJson(request)) return renderError(new BadRequestError('A valid session was detected and thus login is not possible.', { id: 'session_already_available' }), tessera.requestId)
            return redirect(q.return_to && engine.allowedReturnTo(q.return_to, tessera.publicBaseUrl) ? q.return_to : engine.defaultReturnUrl(tessera.publicBaseUrl))
          }
        } else if (existing && (kind === 'registration' || (!refresh && aalRank(existing.aal) >= aalRank(requestedAal)))) {
          return renderError(new BadRequestError('A valid session was detected and thus login is not possible.', { id: 'session_already_available' }), tessera.requestId)
        }
        const sessionIdentityId = existing && (refresh || requestedAal !== 'aal1') ? existing.identityId : undefined
        let created = await createOrForward(engine, tessera, kind, type, request, tessera.db, ipOf(server as Ip, request, tessera), { returnTo: type === 'browser' ? q.return_to : undefined, loginChallenge: type === 'browser' && (kind === 'login' || kind === 'registration') ? q.login_challenge : undefined, refresh: refresh && !!existing, requestedAal, sessionIdentityId })
        if (created instanceof Response) return created
        // a flow answered as JSON names the provider's login request (a browser redirected to the UI fetches it later)
        if (login && created.flow.oauth2_login_challenge !== undefined && wantsJson(request)) created = { ...created, flow: await login.withLoginRequest(tessera.tenant, created.flow) }
        return answerNewFlow(engine, kind, type, created, request, tessera.publicBaseUrl)
      })
    }

    app.get(`/self-service/${kind}/flows`, async ({ request, tessera, query, server }) => {
      const id = String((query as Record<string, string>).id ?? '')
      const stored = await engine.load(kind, id, tessera.db)
      engine.checkCsrfCookie(stored, request)
      if (stored.expired) {
        const next = await engine.create(kind, stored.flow.type, request, tessera.db, ipOf(server as Ip, request, tessera), { returnTo: stored.flow.return_to, loginChallenge: stored.flow.oauth2_login_challenge as string | undefined, messages: [expiredText(kind, stored.flow)], ...(await sameAal(stored.flow, request, tessera.tenant)) })
        return flowExpiredResponse(next.flow.id, stored.flow.expires_at, tessera.requestId)
      }
      return json(login ? await login.withLoginRequest(tessera.tenant, stored.flow) : stored.flow)
    })

    app.post(`/self-service/${kind}`, async (c) => {
      const { request, tessera } = c
      const opened = await openSubmission(engine, kind, c)
      if (opened instanceof Response) return opened
      const { db, ip, stored, flow, input } = opened
      if (stored.expired) {
        const next = await engine.create(kind, flow.type, request, db, ip, { returnTo: flow.return_to, loginChallenge: flow.oauth2_login_challenge as string | undefined, messages: [expiredText(kind, flow)], ...(await sameAal(flow, request, tessera.tenant)) })
        return expiredSubmission(engine, kind, flow, next.flow.id, request, tessera)
      }
      const methodId = typeof input.method === 'string' ? input.method : ''
      const method = core.ctx.registries.credentialMethods.get(methodId) as CredentialMethod | undefined
      // Login: only the methods of the flow's assurance (a second factor alone never logs anyone in).
      if (!method?.[kind] || (kind === 'login' && !engine.methods('login', flowAal(flow)).includes(method as never))) {
        engine.annotate(flow, input, {}, [text.validation(`Could not find a strategy to handle the ${kind} request (method "${methodId}").`)])
        await engine.save(flow, db)
        return showFlow(kind, flow, request)
      }
      try {
        if (kind === 'registration') return await register(db, flow, input, request, ip, method, stored.csrf, stored.locale)
        const loginCtx = await loginContextOf(flow, request, db.nid)
        if (!loginCtx) return renderError(aal1Required(), tessera.requestId)
        const out = await method.login!.submit(flow, input, await engine.methodContext(method, db, kind, request, ip, { login: loginCtx, flowCsrf: stored.csrf, flowType: flow.type, flowLocale: stored.locale }))
        return await loginOutcome(db, flow, input, request, ip, methodId, out)
      } catch (e) {
        return submitError(kind, flow, request, e, tessera)
      }
    })
  }

  /** What a login method's outcome means for the flow: shown again, waiting for a code, a page, or a session. */
  async function loginOutcome(db: ScopedDb, flow: SelfServiceFlow, input: Record<string, unknown>, request: Request, ip: string | null, methodId: string, out: LoginOutcome) {
    const kind = 'login'
    if (out.kind === 'sent') return sentFlow(kind, flow, db, request, out.messages)
    if (out.kind === 'page') return page(out.title, out.text)
    if (out.kind !== 'success') {
      const msgs = out.kind === 'invalid' ? out : { messages: [text.validation('The method could not handle this request.')], nodeMessages: {} }
      engine.annotate(flow, input, msgs.nodeMessages, msgs.messages)
      await engine.save(flow, db)
      return showFlow(kind, flow, request)
    }
    const requestedAal = flowAal(flow)
    // A step-up (aal2) or a refresh authenticates the signed-in identity again, with a method of the flow's assurance.
    const current = requestedAal !== 'aal1' || flow.refresh === true ? await core.fromRequest(request, db.nid) : null
    if (requestedAal !== 'aal1' && !current) return renderError(aal1Required())
    const eligible = engine.methods('login', requestedAal).some((m) => m.id === methodId)
    const identity = eligible && (!current || current.identityId === out.identityId) ? await new IdentityRepo(db).get(out.identityId) : undefined
    if (!identity || identity.state !== 'active') {
      // An inactive identity cannot log in; it gets the same answer as a wrong credential.
      engine.annotate(flow, input, {}, [text.invalidCredentials()])
      await engine.save(flow, db)
      return showFlow(kind, flow, request)
    }
    if (opts.loginAfter.includes('require_verified_address')) {
      // Kratos' require_verified_address hook: no session until one of the identity's addresses is verified.
      const addresses = (await core.addressesOf(db, [identity.id])).get(identity.id)!.verification
      if (addresses.length > 0 && !addresses.some((a) => a.verified === true || (a.verified as unknown) === 1)) {
        engine.annotate(flow, input, {}, [text.addressNotVerified()])
        await engine.save(flow, db)
        return showFlow(kind, flow, request)
      }
    }
    const after = await engine.runHook('login', 'after', { kind, tenant: db.nid, request, flow, method: methodId, identity: core.identityJson(identity) })
    if (after?.abort) {
      engine.annotate(flow, input, {}, after.messages ?? [])
      await engine.save(flow, db)
      return showFlow(kind, flow, request)
    }
    await db.exec(deleteFlow(db, flow.id))
    if (current) {
      const response = await finishStepUp(db, flow, current, methodId, out.aal, request)
      await core.ctx.emit('login.succeeded', { identityId: identity.id, sessionId: current.id, method: methodId }, { tenant: db.nid })
      return response
    }
    const { issued, response } = await finishLogin(db, flow, identity, methodId, out.aal, request, ip)
    await core.ctx.emit('login.succeeded', { identityId: identity.id, sessionId: issued.row.id, method: methodId }, { tenant: db.nid })
    return response
  }

  /** A method sent a code: the flow, as the method left it, is stored and shown (200 for JSON, the UI for a browser form). */
  async function sentFlow(kind: FlowKind, flow: SelfServiceFlow, db: ScopedDb, request: Request, messages: UiText[] = []) {
    for (const n of flow.ui.nodes) n.messages = []
    flow.ui.messages = messages
    await engine.save(flow, db)
    // Kratos answers a sent login or registration code with 400 and the flow (it is not done yet: SDKs and Ory's
    // UIs show it, and a 200 would read as a login); a sent recovery or verification message with 200
    return flow.type === 'browser' && !wantsJson(request) ? redirect(engine.uiUrl(kind, flow.id, (await core.baseUrlOf(request)))) : json(flow, kind === 'login' || kind === 'registration' ? 400 : 200)
  }

  async function register(db: ScopedDb, flow: SelfServiceFlow, input: Record<string, unknown>, request: Request, ip: string | null, method: CredentialMethod, flowCsrf = '', flowLocale?: string) {
    const methodId = method.id
    const schema = core.schemas.get(core.defaultSchemaId)!
    const traits = (input.traits && typeof input.traits === 'object' ? input.traits : {}) as Record<string, unknown>
    const checked = validateTraits(schema, traits)
    if (!checked.ok) {
      engine.annotate(flow, input, checked.nodes, checked.general)
      await engine.save(flow, db)
      return showFlow('registration', flow, request)
    }
    const identifiers = identifiersOf(schema, method, traits)
    const ctx = await engine.methodContext(method, db, 'registration', request, ip, { registration: { traits, identifiers }, flowCsrf, flowType: flow.type, flowLocale })
    const out = await method.registration!.submit(flow, input, ctx)
    if (out.kind === 'sent') return sentFlow('registration', flow, db, request, out.messages)
    if (out.kind === 'page') return page(out.title, out.text)
    if (out.kind !== 'success') {
      const msgs = out.kind === 'invalid' ? out : { messages: [text.validation('The method could not handle this request.')], nodeMessages: {} }
      engine.annotate(flow, input, msgs.nodeMessages, msgs.messages)
      await engine.save(flow, db)
      return showFlow('registration', flow, request)
    }
    const credential = await engine.types.toStored(schema, methodId, traits, out.credential)
    const now = new Date()
    const identity: IdentityRow = { id: Bun.randomUUIDv7(), schema_id: schema.id, traits, state: 'active', state_changed_at: now, metadata_public: null, metadata_admin: null, external_id: null, created_at: now, updated_at: now }
    // After hooks run before the identity is stored, so they can still abort the registration.
    const after = await engine.runHook('registration', 'after', { kind: 'registration', tenant: db.nid, request, flow, method: methodId, identity: core.identityJson(identity) })
    if (after?.abort) {
      engine.annotate(flow, input, {}, after.messages ?? [])
      await engine.save(flow, db)
      return showFlow('registration', flow, request)
    }
    let added: IdentityAddress[] = []
    try {
      added = await new IdentityRepo(db).insert(identity, [credential], schema)
    } catch (e) {
      if (e instanceof TesseraError && e.status === 409) {
        engine.annotate(flow, input, {}, [text.duplicate()])
        await engine.save(flow, db)
        return showFlow('registration', flow, request)
      }
      throw e
    }
    await db.exec(deleteFlow(db, flow.id))
    await core.ctx.emit('identity.created', { identityId: identity.id, schemaId: schema.id, via: 'registration' }, { tenant: db.nid })
    // Kratos' verification after registration: a verification flow per new address, its message sent, shown to the client.
    // A method that verified the address itself (a registration code proves it) says so in the credential it returns.
    const proven = new Set(out.credential.verifiedAddresses ?? [])
    for (const a of added.filter((x) => proven.has(x.value))) await new AddressRepo(db).markVerified(identity.id, a.value)
    const showVerification = await flows.startVerification(db, flow.type, request, ip, added.filter((x) => !proven.has(x.value)), flowLocale)
    const identityJson = await core.identityJsonStored(db, identity)
    if (core.ctx.options.selfservice.registrationAfter.includes('session')) {
      const { response } = await finishLogin(db, flow, identity, methodId, 'aal1', request, ip, { body: { identity: identityJson }, setToken: true, continueWith: showVerification })
      return response
    }
    if (flow.type === 'api') return json({ identity: identityJson, continue_with: showVerification })
    if (wantsJson(request)) return json({ identity: identityJson, continue_with: [...showVerification, ...redirectBrowserTo(flow, (await core.baseUrlOf(request)))] })
    return redirect(flow.return_to ?? engine.defaultReturnUrl((await core.baseUrlOf(request))))
  }

  // Sessions.
  app.get('/.well-known/tessera/session-jwks.json', async ({ tessera }) => json(await tokenizer.jwks(tessera.db)))

  const WHOAMI_HEADERS = 'application/json; charset=utf-8'
  // Decided once: with no method that can be a second factor, no identity can reach aal2 and whoami reads nothing more.
  const checkAal = core.ctx.options.session.whoamiRequiredAal === 'highest_available' && anySecondFactor(core.ctx.registries.credentialMethods)
  app.get('/sessions/whoami', async ({ request, tessera }) => {
    const token = core.tokenOf(request)
    const s = token ? await core.liveSnapshot(tessera.db, token) : null
    if (!s) return renderError(noSession(), tessera.requestId)
    // Kratos' session.whoami.required_aal = highest_available: an aal1 session of an identity with a second factor must step up.
    if (s.aal !== 'aal2' && checkAal && (await availableAal(tessera.db, core.ctx.registries.credentialMethods, s.identityId)) === 'aal2') {
      const returnTo = request.url.includes('?') ? new URL(request.url).searchParams.get('return_to') : null
      return aal2Required(stepUpUrl(tessera.publicBaseUrl, returnTo && engine.allowedReturnTo(returnTo, tessera.publicBaseUrl) ? returnTo : undefined), tessera.requestId)
    }
    const headers = { 'content-type': WHOAMI_HEADERS, 'x-kratos-authenticated-identity-id': s.identityId }
    // The query string is parsed only when there is one (Elysia would parse it on every request if the handler read `query`).
    const template = request.url.includes('?') ? new URL(request.url).searchParams.get('tokenize_as') : null
    if (template) {
      const session = JSON.parse(s.json)
      return new Response(JSON.stringify({ ...session, tokenized: await tokenizer.tokenize(tessera.db, template, session) }), { headers })
    }
    // The pre-rendered session goes out as stored: no parse, no stringify.
    return new Response(s.json, { headers })
  })

  app.get('/sessions', async ({ request, tessera }) => {
    const me = await core.requireSession(request, tessera.tenant)
    const rows = await new SessionRepo(tessera.db).list({ identityId: me.identityId, active: true, limit: 500 })
    return json(rows.filter((r) => r.id !== me.id).map((r) => core.sessionJson(r, undefined)))
  })

  app.delete('/sessions', async ({ request, tessera }) => {
    const me = await core.requireSession(request, tessera.tenant)
    const count = await new SessionRepo(tessera.db).deactivateAll(me.identityId, me.id)
    return json({ count })
  })

  app.delete('/sessions/:id', async ({ request, tessera, params }) => {
    const me = await core.requireSession(request, tessera.tenant)
    if (params.id === me.id) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: 'Use the logout flow to end the current session.' })
    const ok = await new SessionRepo(tessera.db).deactivate(params.id, me.identityId)
    if (!ok) throw new TesseraError('ERR_NOT_FOUND', 404, 'The requested resource could not be found')
    await core.ctx.emit('session.revoked', { sessionId: params.id, identityId: me.identityId }, { tenant: tessera.tenant })
    return new Response(null, { status: 204 })
  })

  // Logout.
  app.get('/self-service/logout/browser', async ({ request, tessera, query }) => {
    const me = await core.requireSession(request, tessera.tenant)
    const returnTo = (query as Record<string, string | undefined>).return_to
    if (returnTo && !engine.allowedReturnTo(returnTo, tessera.publicBaseUrl)) throw new BadRequestError('The request was malformed or contained invalid parameters', { id: 'self_service_flow_return_to_forbidden', reason: `Requested return_to URL "${returnTo}" is not allowed.` })
    const logoutToken = await core.ctx.secrets.system.seal('identity.logout', me.id, tessera.tenant)
    const url = new URL(`${tessera.publicBaseUrl}/self-service/logout`)
    url.searchParams.set('token', logoutToken)
    if (returnTo) url.searchParams.set('return_to', new URL(returnTo).href)
    return json({ logout_url: url.toString(), logout_token: logoutToken })
  })

  app.get('/self-service/logout', async ({ request, tessera, query }) => {
    const q = query as Record<string, string | undefined>
    const sessionId = q.token ? await core.ctx.secrets.system.open('identity.logout', q.token, tessera.tenant) : null
    const me = await core.fromRequest(request, tessera.tenant)
    // The token must belong to the session of this browser (a logout link cannot sign out someone else).
    if (!sessionId || !me || !constantTimeEqual(sessionId, me.id)) return renderError(csrfViolation(), tessera.requestId)
    await new SessionRepo(tessera.db).deactivate(me.id)
    await core.ctx.emit('session.revoked', { sessionId: me.id, identityId: me.identityId }, { tenant: tessera.tenant })
    const returnTo = q.return_to && engine.allowedReturnTo(q.return_to, tessera.publicBaseUrl) ? new URL(q.return_to).href : engine.defaultReturnUrl(tessera.publicBaseUrl)
    if (wantsJson(request)) return new Response(null, { status: 204, headers: { 'set-cookie': core.clearSessionCookie() } })
    return redirect(returnTo, [core.clearSessionCookie()])
  })

  app.delete('/self-service/logout/api', async ({ tessera, body }) => {
    const token = (body as { session_token?: unknown } | undefined)?.session_token
    if (typeof token !== 'string' || token === '') throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: 'session_token is required' })
    const ok = await new SessionRepo(tessera.db).deactivateByToken(token)
    if (!ok) throw new TesseraError('ERR_FORBIDDEN', 403, 'The requested action was forbidden', { reason: 'The session token is not active.' })
    return new Response(null, { status: 204 })
  })

  // Identity schemas.
  app.get('/schemas', () => json([...core.schemas.values()].map((s) => ({ id: s.id, schema: s.schema }))))
  app.get('/schemas/:id', ({ params }) => {
    const s = core.schemas.get(params.id)
    if (!s) throw new TesseraError('ERR_NOT_FOUND', 404, 'The requested resource could not be found', { reason: `Identity schema "${params.id}" does not exist.` })
    return json(s.schema)
  })

  return app
}

/** Kratos' ErrSessionRequiredForHigherAAL: 401 `session_aal1_required`. */
export function aal1Required(): TesseraError {
  return new TesseraError('ERR_UNAUTHORIZED', 401, 'aal2 and aal3 can only be requested if a session exists already', { id: 'session_aal1_required', reason: 'You can not requested a higher AAL (AAL2/AAL3) without an active session.' })
}

/** `?aal=` of a login flow: empty or `aal1`, or `aal2`; anything else is a 400 (Kratos). */
export function parseAal(q: string | undefined): AuthenticatorAssuranceLevel {
  if (q === undefined || q === '' || q === 'aal1') return 'aal1'
  if (q === 'aal2') return 'aal2'
  throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: `Unable to parse AuthenticationMethod Assurance Level (AAL): expected one of [aal1, aal2] but got ${JSON.stringify(q.slice(0, 20))}` })
}

/** Kratos' ErrNoActiveSessionFound. */
export function noSession(): TesseraError {
  return new TesseraError('ERR_UNAUTHORIZED', 401, 'request does not have a valid authentication session', { id: 'session_inactive', reason: 'No active session was found in this request.' })
}

export function expiredText(kind: FlowKind, flow: SelfServiceFlow): UiText {
  const minutes = (Date.now() - new Date(flow.expires_at).getTime()) / 60000
  if (kind === 'login') return text.loginExpired(minutes)
  if (kind === 'registration') return text.registrationExpired(minutes)
  return text[`${kind}Expired`](minutes)
}

/** A submitted flow, loaded and its CSRF token checked: how both self-service routers start a submission. */
export interface Submission {
  db: ScopedDb
  ip: string | null
  stored: Awaited<ReturnType<FlowEngine['load']>>
  flow: SelfServiceFlow
  input: Record<string, unknown>
}

/** Loads the flow `?flow=` names and checks the submission's CSRF token (a mismatch is answered, not thrown). */
export async function openSubmission(engine: FlowEngine, kind: FlowKind, c: { request: Request; tessera: RequestContext; query: unknown; body: unknown; server: unknown }): Promise<Submission | Response> {
  const { request, tessera } = c
  const id = String((c.query as Record<string, string>).flow ?? '')
  const db = tessera.db
  const ip = ipOf(c.server as Ip, request, tessera)
  const stored = await engine.load(kind, id, db)
  const input = nestBody(c.body)
  try {
    engine.checkCsrfSubmit(stored, request, input)
  } catch (e) {
    return renderError(e, tessera.requestId)
  }
  return { db, ip, stored, flow: stored.flow, input }
}

/** A submission to an expired flow, once `nextId` replaced it: a browser goes to the new flow, an API or SPA client gets 410. */
export function expiredSubmission(engine: FlowEngine, kind: FlowKind, flow: SelfServiceFlow, nextId: string, request: Request, tessera: RequestContext): Response | Promise<Response> {
  if (flow.type === 'browser' && !wantsJson(request)) return redirect(engine.uiUrl(kind, nextId, tessera.publicBaseUrl))
  return flowExpiredResponse(nextId, flow.expires_at, tessera.requestId)
}

import { sql } from 'tessera'
export const deleteFlow = (db: ScopedDb, id: string) => sql`DELETE FROM selfservice_flows WHERE nid = ${db.nid} AND id = ${id}`
