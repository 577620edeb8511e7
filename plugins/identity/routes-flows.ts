/**
 * Settings, recovery and verification flows (Kratos' paths and shapes), in API, browser and SPA variants, and
 * the links from messages (`GET /self-service/<flow>?flow=<id>&token=…|code=…`). The flow engine knows no method
 * by name: settings asks every method with a settings participant (plus `profile`, the identity's own traits),
 * recovery and verification ask the one method the config names (`selfservice.recovery.use`).
 */
import * as v from 'valibot'
import {
  BadRequestError,
  type CredentialMethod,
  type FlowMethodContext,
  type FlowType,
  ForbiddenError,
  type IdentityAddress,
  type LoginOutcome,
  NotFoundError,
  type RecoveryOutcome,
  type RouteApp,
  type ScopedDb,
  type SelfServiceFlow,
  type SettingsContext,
  type SettingsOutcome,
  TesseraError,
  type UiText,
  type VerificationOutcome,
  parse,
  renderError,
} from 'tessera'
import { AddressRepo } from './addresses.ts'
import type { ActiveSessionWithToken, IdentityCore } from './core.ts'
import { type FlowEngine, flowExpiredResponse, flowNotFound, populateProfile } from './engine.ts'
import { text } from './messages.ts'
import { IdentityRepo, SessionRepo } from './repo.ts'
import { type Ip, answerNewFlow, csrfCookies, expiredSubmission, expiredText, ipOf, json, openSubmission, redirect, wantsJson } from './routes-public.ts'
import { identifiersOf, validateTraits } from './schemas.ts'
import { aal2Required, anySecondFactor, availableAal, removalRefused, stepUpUrl } from './aal.ts'
import { createOrForward } from './flow-errors.ts'

type AddressKind = 'recovery' | 'verification'

/** A small page for a link opened outside its flow's browser (the text is escaped; nothing runs). */
export function page(title: string, body: string): Response {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title><meta name="viewport" content="width=device-width"></head><body><main><h1>${esc(title)}</h1><p>${esc(body)}</p></main></body></html>`
  return new Response(html, { status: 200, headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'", 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' } })
}

const cleanQuery = (q: unknown): Record<string, string> => Object.fromEntries(Object.entries((q ?? {}) as Record<string, unknown>).filter(([, x]) => typeof x === 'string')) as Record<string, string>

export function addressFlowRoutes(
  app: RouteApp,
  core: IdentityCore,
  engine: FlowEngine,
  hooks: { loginOutcome(db: ScopedDb, flow: SelfServiceFlow, input: Record<string, unknown>, request: Request, ip: string | null, methodId: string, out: LoginOutcome): Promise<Response> },
) {
  const opts = core.ctx.options.selfservice
  const methodOf = (id: string) => core.ctx.registries.credentialMethods.get(id) as CredentialMethod<FlowMethodContext> | undefined

  /** Answer a flow shown again with messages: 400 (API, SPA) or the UI (browser form). */
  const showFlow = async (kind: string, flow: SelfServiceFlow, request: Request, status = 400) =>
    flow.type === 'browser' && !wantsJson(request) ? redirect(engine.uiUrl(kind as never, flow.id, (await core.baseUrlOf(request)))) : json(flow, status)

  /** Whether the session authenticated recently enough for privileged changes (its stored authenticated_at). */
  const privilegedAt = (authenticatedAt: Date | string | undefined) => Date.now() - new Date(authenticatedAt ?? 0).getTime() < opts.privilegedSessionMaxAge * 1000
  const privileged = async (db: ScopedDb, s: { id: string }) => privilegedAt((await new SessionRepo(db).get(s.id))?.authenticated_at)

  /** Kratos' FlowNeedsReAuth: 403 session_refresh_required with where to log in again (browser forms are sent there). */
  async function refreshRequired(request: Request, flow: SelfServiceFlow, requestId?: string): Promise<Response> {
    const base = (await core.ctx.requestContext(request)).publicBaseUrl
    const to = new URL(`${base}/self-service/login/browser`)
    to.searchParams.set('refresh', 'true')
    to.searchParams.set('return_to', engine.uiUrl('settings', flow.id, base))
    if (flow.type === 'browser' && !wantsJson(request)) return redirect(to.toString())
    const err = new ForbiddenError('The login session is too old and thus not allowed to update these fields. Please re-authenticate.', { id: 'session_refresh_required' })
    const rendered = renderError(err, requestId)
    const body = { ...((await rendered.json()) as Record<string, unknown>), redirect_browser_to: to.toString() }
    return new Response(JSON.stringify(body), { status: 403, headers: rendered.headers })
  }

  /** The verification flows for new addresses (after registration or a settings change), each message sent: Kratos' continue_with show_verification_ui. */
  async function startVerification(db: ScopedDb, type: FlowType, request: Request, ip: string | null, addresses: IdentityAddress[], locale?: string): Promise<Record<string, unknown>[]> {
    const m = engine.addressMethod('verification')
    if (!m?.verification?.send || addresses.length === 0) return []
    const out: Record<string, unknown>[] = []
    for (const a of addresses) {
      const { flow, csrf, locale: flowLocale } = await engine.create('verification', type, request, db, ip, { skipLimit: true, ...(locale ? { locale } : {}) })
      await m.verification.send(flow, a, await engine.methodContext(m, db, 'verification', request, ip, { flowCsrf: csrf, flowType: type, flowLocale }))
      await new AddressRepo(db).markSent(a.identityId, a.value)
      await engine.save(flow, db)
      out.push({ action: 'show_verification_ui', flow: { id: flow.id, verifiable_address: a.value, url: engine.uiUrl('verification', flow.id, (await core.baseUrlOf(request))) } })
    }
    return out
  }

  /** The settings flow's identity must be the session's. */
  async function settingsSession(request: Request, tenant: string) {
    return core.requireSession(request, tenant)
  }

  async function settingsBase(db: ScopedDb, identityId: string, s: { id: string; aal?: string }): Promise<SettingsContext> {
    const row = await new IdentityRepo(db).get(identityId)
    if (!row) throw new NotFoundError('Unable to locate the resource')
    return { identityId, traits: row.traits, identifiers: [], privileged: await privileged(db, s), ...(s.aal ? { aal: s.aal as SettingsContext['aal'] } : {}) }
  }

  /**
   * Kratos' selfservice.flows.settings.required_aal = highest_available: an aal1 session of an identity that has a
   * second factor steps up before settings (403 session_aal2_required, or a browser form sent to the aal2 login).
   */
  async function settingsAalRefusal(db: ScopedDb, s: { identityId: string; aal: string }, browserForm: boolean, publicBaseUrl: string, flow?: SelfServiceFlow, requestId?: string): Promise<Response | null> {
    if (opts.settings.requiredAal !== 'highest_available' || s.aal === 'aal2' || !anySecondFactor(core.ctx.registries.credentialMethods)) return null
    if ((await availableAal(db, core.ctx.registries.credentialMethods, s.identityId)) !== 'aal2') return null
    const to = stepUpUrl(publicBaseUrl, flow ? engine.uiUrl('settings', flow.id, publicBaseUrl) : undefined)
    return browserForm ? redirect(to) : aal2Required(to, requestId)
  }

  // Create flows.
  for (const kind of ['settings', 'recovery', 'verification'] as const) {
    for (const type of ['api', 'browser'] as FlowType[]) {
      app.get(`/self-service/${kind}/${type}`, async ({ request, tessera, query, server }) => {
        const q = query as Record<string, string | undefined>
        const ip = ipOf(server as Ip, request, tessera)
        const returnTo = type === 'browser' ? q.return_to : undefined
        // Kratos: a browser whose flow cannot be made is sent to the UI's error page
        let created: Awaited<ReturnType<typeof createOrForward>>
        if (kind === 'settings') {
          const s = await core.fromRequest(request, tessera.tenant)
          if (!s) {
            // Kratos: a browser without a session is sent to log in first; API and SPA clients get 401.
            if (type === 'browser' && !wantsJson(request)) return redirect(`${tessera.publicBaseUrl}/self-service/login/browser`)
            throw new TesseraError('ERR_UNAUTHORIZED', 401, 'request does not have a valid authentication session', { id: 'session_inactive', reason: 'No active session was found in this request.' })
          }
          const refused = await settingsAalRefusal(tessera.db, s, type === 'browser' && !wantsJson(request), tessera.publicBaseUrl, undefined, tessera.requestId)
          if (refused) return refused
          const row = (await new IdentityRepo(tessera.db).get(s.identityId))!
          const more = { settings: await settingsBase(tessera.db, s.identityId, s), identity: await core.identityJsonStored(tessera.db, row) }
          created = await createOrForward(engine, tessera, kind, type, request, tessera.db, ip, { returnTo, ...more })
        } else {
          created = await createOrForward(engine, tessera, kind, type, request, tessera.db, ip, { returnTo })
        }
        if (created instanceof Response) return created
        return answerNewFlow(engine, kind, type, created, request, tessera.publicBaseUrl)
      })
    }

    app.get(`/self-service/${kind}/flows`, async ({ request, tessera, query, server }) => {
      const id = String((query as Record<string, string>).id ?? '')
      const stored = await engine.load(kind, id, tessera.db)
      engine.checkCsrfCookie(stored, request)
      if (kind === 'settings') {
        const s = await settingsSession(request, tessera.tenant)
        if ((stored.flow.identity as { id?: string } | undefined)?.id !== s.identityId) throw flowNotFound()
        const refused = await settingsAalRefusal(tessera.db, s, false, tessera.publicBaseUrl, stored.flow, tessera.requestId)
        if (refused) return refused
      }
      if (stored.expired) {
        const ip = ipOf(server as Ip, request, tessera)
        const again = kind === 'settings' ? await recreateSettings(tessera.db, stored.flow, request, ip, tessera.tenant) : await engine.create(kind, stored.flow.type, request, tessera.db, ip, { returnTo: stored.flow.return_to, messages: [expiredText(kind, stored.flow)] })
        return flowExpiredResponse(again.flow.id, stored.flow.expires_at, tessera.requestId)
      }
      return json(stored.flow)
    })

    app.post(`/self-service/${kind}`, async (c) => {
      const { request, tessera } = c
      const opened = await openSubmission(engine, kind, c)
      if (opened instanceof Response) return opened
      const { db, ip, stored, flow, input } = opened
      let session: ActiveSessionWithToken | undefined
      if (kind === 'settings') {
        session = await settingsSession(request, tessera.tenant)
        if ((flow.identity as { id?: string } | undefined)?.id !== session.identityId) throw flowNotFound()
        const refused = await settingsAalRefusal(db, session, flow.type === 'browser' && !wantsJson(request), tessera.publicBaseUrl, flow, tessera.requestId)
        if (refused) return refused
      }
      if (stored.expired) {
        const next = kind === 'settings' ? await recreateSettings(db, flow, request, ip, tessera.tenant) : await engine.create(kind, flow.type, request, db, ip, { returnTo: flow.return_to, messages: [expiredText(kind, flow)] })
        return expiredSubmission(engine, kind, flow, next.flow.id, request, tessera)
      }
      const methodId = typeof input.method === 'string' ? input.method : ''
      try {
        if (kind === 'settings') return await submitSettings(db, flow, input, request, ip, methodId, session!, tessera.requestId)
        if (flow.state === 'passed_challenge') {
          engine.annotate(flow, input, {}, [kind === 'recovery' ? text.recoveryRetrySuccess() : text.verificationRetrySuccess()])
          return showFlow(kind, flow, request)
        }
        const m = engine.methods(kind).find((x) => x.id === methodId)
        if (!m) {
          engine.annotate(flow, input, {}, [text.validation(`Could not find a strategy to handle the ${kind} request (method "${methodId}").`)])
          await engine.save(flow, db)
          return showFlow(kind, flow, request)
        }
        const ctx = await engine.methodContext(m, db, kind, request, ip, { flowCsrf: stored.csrf, flowType: flow.type, flowLocale: stored.locale })
        const out = await m[kind]!.submit(flow, input, ctx)
        return await addressOutcome(kind, db, flow, input, request, ip, m.id, out)
      } catch (e) {
        if (flow.type === 'browser' && !wantsJson(request) && e instanceof TesseraError && e.status !== 403 && e.status !== 429) return redirect(engine.uiUrl(kind, flow.id, tessera.publicBaseUrl))
        return renderError(e, tessera.requestId)
      }
    })
  }

  // Links from messages: the recovery or verification link, the login code's magic link.
  for (const kind of ['login', 'recovery', 'verification'] as const) {
    app.get(`/self-service/${kind}`, async ({ request, tessera, query, server }) => {
      const q = cleanQuery(query)
      const db = tessera.db
      const ip = ipOf(server as Ip, request, tessera)
      const stored = await engine.load(kind, q.flow ?? '', db)
      const flow = stored.flow
      if (stored.expired) {
        const next = await engine.create(kind, flow.type, request, db, ip, { returnTo: flow.return_to, messages: [expiredText(kind, flow)] })
        return redirect(engine.uiUrl(kind, next.flow.id, tessera.publicBaseUrl))
      }
      const methodId = q.method ?? (q.token ? 'link' : 'code')
      // Any installed method's link (an admin's recovery link is by `link` whatever `recovery.use` says), if the flow is enabled.
      const m = kind !== 'login' && !opts[kind].enabled ? undefined : methodOf(methodId)
      const participant = m?.[kind]
      if (!m || !participant?.link) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: `This link is not for an installed method ("${methodId}").` })
      try {
        const ctx = await engine.methodContext(m, db, kind, request, ip, { flowCsrf: stored.csrf, flowType: flow.type, flowLocale: stored.locale })
        const out = await participant.link(flow, q, ctx)
        if (kind === 'login') return await hooks.loginOutcome(db, flow, {}, request, ip, m.id, out as LoginOutcome)
        return await addressOutcome(kind, db, flow, {}, request, ip, m.id, out as RecoveryOutcome | VerificationOutcome, true)
      } catch (e) {
        if (e instanceof TesseraError && e.status !== 403 && e.status !== 429) return redirect(engine.uiUrl(kind, flow.id, tessera.publicBaseUrl))
        return renderError(e, tessera.requestId)
      }
    })
  }

  /** A recovery or verification method's outcome: sent, shown again, a page, or done. */
  async function addressOutcome(kind: AddressKind, db: ScopedDb, flow: SelfServiceFlow, input: Record<string, unknown>, request: Request, ip: string | null, methodId: string, out: RecoveryOutcome | VerificationOutcome, fromLink = false): Promise<Response> {
    const browserForm = flow.type === 'browser' && (fromLink || !wantsJson(request))
    if (out.kind === 'page') return page(out.title, out.text)
    if (out.kind === 'sent') {
      for (const n of flow.ui.nodes) n.messages = []
      flow.ui.messages = out.messages ?? []
      await engine.save(flow, db)
      return browserForm ? redirect(engine.uiUrl(kind, flow.id, (await core.baseUrlOf(request)))) : json(flow)
    }
    if (out.kind !== 'success') {
      const msgs = out.kind === 'invalid' ? out : { messages: [text.validation('The method could not handle this request.')], nodeMessages: {} }
      engine.annotate(flow, input, msgs.nodeMessages, msgs.messages)
      await engine.save(flow, db)
      return browserForm ? redirect(engine.uiUrl(kind, flow.id, (await core.baseUrlOf(request)))) : json(flow, 400)
    }
    flow.state = 'passed_challenge'
    if (kind === 'verification') {
      const { identityId, address } = out as Extract<VerificationOutcome, { kind: 'success' }>
      const stored = await new AddressRepo(db).find('verification', address)
      await new AddressRepo(db).markVerified(identityId, address)
      await core.refreshSnapshots(db, identityId)
      for (const n of flow.ui.nodes) n.messages = []
      flow.ui.messages = [text.verificationSuccessful()]
      const next = flow.return_to ?? engine.defaultReturnUrl((await core.baseUrlOf(request)))
      flow.ui.nodes = flow.ui.nodes.filter((n) => (n.attributes as { name?: string }).name === 'csrf_token')
      flow.ui.nodes.push({ type: 'a', group: 'code', attributes: { node_type: 'a', href: next, title: { id: 1070009, text: 'Continue', type: 'info' }, id: 'continue' }, messages: [], meta: { label: { id: 1070009, text: 'Continue', type: 'info' } } })
      flow.continue_with = [{ action: 'redirect_browser_to', redirect_browser_to: next }]
      await engine.save(flow, db)
      await core.ctx.emit('identity.verified', { identityId, address, via: stored?.via ?? 'email' }, { tenant: db.nid })
      return browserForm ? redirect(engine.uiUrl('verification', flow.id, (await core.baseUrlOf(request)))) : json(flow)
    }
    // Recovery: a privileged session, and a settings flow to set a new credential.
    const identityId = (out as Extract<RecoveryOutcome, { kind: 'success' }>).identityId
    const identity = await new IdentityRepo(db).get(identityId)
    if (!identity || identity.state !== 'active') {
      engine.annotate(flow, input, {}, [{ id: 4060006, text: 'The recovery code is invalid or has already been used. Please try again.', type: 'error' }])
      await engine.save(flow, db)
      return browserForm ? redirect(engine.uiUrl(kind, flow.id, (await core.baseUrlOf(request)))) : json(flow, 400)
    }
    const issued = await core.issueSession(db, identity, `${methodId}_recovery`, request, ip, 'aal1')
    const settings = await recoverySettingsFlow(db, flow.type, request, ip, identityId, issued.json)
    await engine.save(flow, db)
    await core.ctx.emit('identity.recovered', { identityId, sessionId: issued.row.id, method: methodId }, { tenant: db.nid })
    const cookieHeader = core.sessionCookie(issued.token, request, core.ctx.options.session.lifespan)
    const showSettings = { action: 'show_settings_ui', flow: { id: settings.flow.id, url: engine.uiUrl('settings', settings.flow.id, (await core.baseUrlOf(request))) } }
    if (flow.type === 'api') return json({ ...flow, continue_with: [{ action: 'set_ory_session_token', ory_session_token: issued.token }, showSettings] })
    const cookies = [cookieHeader, ...csrfCookies(settings.csrf, request, (await core.baseUrlOf(request))).map(([, c]) => c)]
    if (browserForm) return redirect(engine.uiUrl('settings', settings.flow.id, (await core.baseUrlOf(request))), cookies)
    const h: [string, string][] = cookies.map((c) => ['set-cookie', c])
    return json({ ...flow, continue_with: [showSettings, { action: 'redirect_browser_to', redirect_browser_to: engine.uiUrl('settings', settings.flow.id, (await core.baseUrlOf(request))) }] }, 200, h)
  }

  /** After recovery: a settings flow for the new session, with Kratos' 1060001 message. */
  async function recoverySettingsFlow(db: ScopedDb, type: FlowType, request: Request, ip: string | null, identityId: string, sessionJson: Record<string, unknown>) {
    const row = (await new IdentityRepo(db).get(identityId))!
    const expiresAt = new Date(Date.now() + opts.privilegedSessionMaxAge * 1000)
    return engine.create('settings', type, request, db, ip, {
      skipLimit: true,
      settings: { identityId, traits: row.traits, identifiers: [], privileged: privilegedAt(sessionJson.authenticated_at as string) },
      identity: await core.identityJsonStored(db, row),
      messages: [text.recoverySuccessful(expiresAt)],
    })
  }

  async function recreateSettings(db: ScopedDb, old: SelfServiceFlow, request: Request, ip: string | null, tenant: string) {
    const s = await settingsSession(request, tenant)
    const row = (await new IdentityRepo(db).get(s.identityId))!
    return engine.create('settings', old.type, request, db, ip, { returnTo: old.return_to, settings: await settingsBase(db, s.identityId, s), identity: await core.identityJsonStored(db, row), messages: [expiredText('settings', old)] })
  }

  /** Refresh a settings flow's identity and nodes after a change. */
  async function refreshSettingsFlow(db: ScopedDb, flow: SelfServiceFlow, request: Request, ip: string | null, identityId: string, base: SettingsContext, csrf: string) {
    const row = (await new IdentityRepo(db).get(identityId))!
    flow.identity = await core.identityJsonStored(db, row)
    flow.ui.nodes = flow.ui.nodes.filter((n) => (n.attributes as { name?: string }).name === 'csrf_token')
    populateProfile(flow, core.schemas.get(core.defaultSchemaId)!, row.traits)
    const ctxBase = { ...base, traits: row.traits }
    for (const m of engine.methods('settings')) await m.settings!.populate?.(flow, await engine.methodContext(m, db, 'settings', request, ip, { settings: await engine.settingsContextFor(m, db, ctxBase), flowCsrf: csrf, flowType: flow.type }))
  }

  async function settingsDone(db: ScopedDb, flow: SelfServiceFlow, request: Request, identityId: string, method: string, continueWith: Record<string, unknown>[], messages: UiText[]) {
    flow.state = 'success'
    flow.ui.messages = [text.settingsSaved(), ...messages]
    flow.continue_with = continueWith
    await engine.save(flow, db)
    await core.ctx.emit('identity.settings.updated', { identityId, method }, { tenant: db.nid })
    if (flow.type === 'browser' && !wantsJson(request)) return redirect(flow.return_to ?? engine.uiUrl('settings', flow.id, (await core.baseUrlOf(request))))
    return json(flow)
  }

  async function submitSettings(db: ScopedDb, flow: SelfServiceFlow, input: Record<string, unknown>, request: Request, ip: string | null, methodId: string, session: ActiveSessionWithToken, requestId?: string): Promise<Response> {
    const stored = await engine.load('settings', flow.id, db)
    const base = await settingsBase(db, session.identityId, session)
    const schema = core.schemas.get(core.defaultSchemaId)!
    if (methodId === 'profile') {
      // The identity's own traits (Kratos' profile strategy), validated against its schema.
      const traits = (input.traits && typeof input.traits === 'object' ? input.traits : {}) as Record<string, unknown>
      const checked = validateTraits(schema, traits)
      if (!checked.ok) {
        engine.annotate(flow, input, checked.nodes, checked.general)
        await engine.save(flow, db)
        return showFlow('settings', flow, request)
      }
      const row = (await new IdentityRepo(db).get(session.identityId))!
      // Changing what identifies or recovers an account (a credential identifier, a verifiable or recovery address) needs a privileged session.
      const sensitive = (t: Record<string, unknown>) =>
        JSON.stringify([
          ...engine.types ? core.ctx.registries.credentialMethods.list().map((m) => identifiersOf(schema, m, t)) : [],
          ...(['verification', 'recovery'] as const).map((k) => schema.fields.filter((f) => f.ext[k]?.via).map((f) => JSON.stringify(getTrait(t, f.path)))),
        ])
      if (sensitive(row.traits) !== sensitive(traits) && !base.privileged) return refreshRequired(request, flow, requestId)
      const next = { ...row, traits, updated_at: new Date() }
      let added: IdentityAddress[] = []
      await db.transaction(async (tx) => {
        const r = new IdentityRepo(tx)
        added = await r.update(next, schema)
        const existing = await r.credentials([row.id])
        await engine.types.resyncIdentifiers(r, schema, row.id, existing.map((c) => c.type), traits)
      }).catch((e) => {
        if (e instanceof TesseraError && e.status === 409) throw new BadRequestError('The request was malformed or contained invalid parameters', { id: 'identity_exists', reason: 'An account with the same identifier (email, phone, username, ...) exists already.' })
        throw e
      })
      await core.refreshSnapshots(db, row.id)
      await core.ctx.emit('identity.updated', { identityId: row.id }, { tenant: db.nid })
      const continueWith = await startVerification(db, flow.type, request, ip, added, stored.locale)
      await refreshSettingsFlow(db, flow, request, ip, row.id, base, stored.csrf)
      return settingsDone(db, flow, request, row.id, 'profile', continueWith, [])
    }
    const m = engine.methods('settings').find((x) => x.id === methodId)
    if (!m) {
      engine.annotate(flow, input, {}, [text.validation(`Could not find a strategy to handle the settings request (method "${methodId}").`)])
      await engine.save(flow, db)
      return showFlow('settings', flow, request)
    }
    // A second factor is enrolled, shown or removed only by a privileged (recently authenticated) session.
    if (m.factor !== 'first' && !base.privileged) return refreshRequired(request, flow, requestId)
    const ctx = await engine.methodContext(m, db, 'settings', request, ip, { settings: await engine.settingsContextFor(m, db, base), flowCsrf: stored.csrf, flowType: flow.type, flowLocale: stored.locale })
    const out: SettingsOutcome = await m.settings!.submit(flow, input, ctx)
    if (out.kind === 'privileged_required') return refreshRequired(request, flow, requestId)
    if (out.kind === 'sent') {
      for (const n of flow.ui.nodes) n.messages = []
      flow.ui.messages = out.messages ?? []
      await engine.save(flow, db)
      return showFlow('settings', flow, request, 200)
    }
    if (out.kind === 'success' && out.credential === null) {
      // Never the last way to sign in, nor the last second factor (an administrator can remove that one).
      const why = await removalRefused(db, core.ctx.registries.credentialMethods, session.identityId, m.id)
      if (why) {
        engine.annotate(flow, input, {}, [{ id: 4000038, text: why, type: 'error' }])
        await engine.save(flow, db)
        return showFlow('settings', flow, request)
      }
    }
    if (out.kind !== 'success') {
      const msgs = out.kind === 'invalid' ? out : { messages: [text.validation('The method could not handle this request.')], nodeMessages: {} }
      engine.annotate(flow, input, msgs.nodeMessages, msgs.messages)
      await engine.save(flow, db)
      return showFlow('settings', flow, request)
    }
    const repo = new IdentityRepo(db)
    if (out.credential === null) await repo.deleteCredential(session.identityId, m.id)
    else await repo.putCredential(session.identityId, await engine.types.toStored(schema, m.id, base.traits, out.credential))
    await core.refreshSnapshots(db, session.identityId)
    await refreshSettingsFlow(db, flow, request, ip, session.identityId, base, stored.csrf)
    return settingsDone(db, flow, request, session.identityId, m.id, [], out.messages ?? [])
  }

  return { startVerification }
}

function getTrait(traits: unknown, path: string): unknown {
  let cur = traits
  for (const k of path.split('.')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined
  return cur
}

/** A Go duration as Kratos' admin API takes it (`1h`, `15m`, `1h30m`, `90s`), in seconds. */
const GoDuration = v.pipe(
  v.string(),
  v.regex(/^(\d+h)?(\d+m)?(\d+s)?$/, 'expected a duration such as 1h, 15m or 1h30m'),
  v.transform((s) => {
    const n = (u: string) => Number(new RegExp(`(\\d+)${u}`).exec(s)?.[1] ?? 0)
    return n('h') * 3600 + n('m') * 60 + n('s')
  }),
  v.minValue(1, 'the duration must be positive'),
)

export const AdminRecoveryBody = v.object({
  identity_id: v.pipe(v.string(), v.uuid('identity_id must be a UUID')),
  expires_in: v.optional(GoDuration),
  flow_type: v.optional(v.picklist(['api', 'browser'])),
})

/** `POST /admin/recovery/code` and `/admin/recovery/link` (Kratos' createRecoveryCodeForIdentity / createRecoveryLinkForIdentity). */
export function adminRecoveryRoutes(app: RouteApp, core: IdentityCore, engine: FlowEngine) {
  for (const what of ['code', 'link'] as const) {
    app.post(`/admin/recovery/${what}`, async ({ request, tessera, body }) => {
      const input = parse(AdminRecoveryBody, body ?? {})
      const db = tessera.db
      const identity = await new IdentityRepo(db).get(input.identity_id)
      if (!identity) throw new NotFoundError('Unable to locate the resource', { reason: 'The requested identity does not exist.' })
      const m = core.ctx.registries.credentialMethods.get(what) as CredentialMethod<FlowMethodContext> | undefined
      if (!m?.recovery?.issue) throw new BadRequestError('The request was malformed or contained invalid parameters', { id: 'self_service_flow_disabled', reason: `Recovery by ${what} is not available: install a method that provides it (the code plugin).` })
      const expiresIn = input.expires_in ?? core.ctx.options.selfservice.flowLifespan
      const type = input.flow_type ?? 'browser'
      const { flow, csrf } = await engine.create('recovery', type, request, db, null, { skipLimit: true })
      flow.expires_at = new Date(Date.now() + expiresIn * 1000).toISOString()
      flow.active = what
      const made = await m.recovery.issue(flow, identity.id, expiresIn, await engine.methodContext(m, db, 'recovery', request, null, { flowCsrf: csrf, flowType: type }))
      await engine.save(flow, db)
      await db.exec(sqlExpires(db, flow.id, new Date(flow.expires_at)))
      const out: Record<string, unknown> = { recovery_link: made.link ?? engine.uiUrl('recovery', flow.id, tessera.publicBaseUrl), expires_at: made.expiresAt.toISOString() }
      if (what === 'code') out.recovery_code = made.code
      return json(out, 201)
    })
  }
  return app
}

import { sql } from 'tessera'
const sqlExpires = (db: ScopedDb, id: string, at: Date) => sql`UPDATE selfservice_flows SET expires_at = ${at} WHERE nid = ${db.nid} AND id = ${id}`

