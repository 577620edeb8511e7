/**
 * Tessera's public API (`import ... from 'tessera'`).
 */
export { defineConfig } from './config/schema.ts'
export type { ResolvedConfig, TesseraConfig, ValidatedConfig, TenantResolver } from './config/schema.ts'
export { loadConfig, resolveConfig, ENV_OVERRIDES, parseConfigDocument, type PluginCatalog } from './config/load.ts'
export { formatIssues, type FormatOptions } from './config/issues.ts'
export { definePlugin, isPluginInstance } from './plugin.ts'
export type { Awaitable } from './types.ts'
export type {
  AnyPluginFactory,
  BootedKernel,
  CliCommand,
  CliContext,
  InputOf,
  OptionsSchema,
  OutputOf,
  PluginContext,
  PluginDefinition,
  PluginFactory,
  PluginInstance,
  Storage,
  RouteFn,
  RawRoute,
  RawRoutes,
  EventHandlers,
} from './plugin.ts'
export * from './errors.ts'
export { EventBus, type EventMeta, type EventName, type TesseraEvents } from './events.ts'
export { createLogger, redact, type Logger, type LogLevel, type LogFormat } from './logger.ts'
export { withSpan } from './telemetry.ts'
export { periodic, type PeriodicJob, sweepTenants } from './periodic.ts'
export { Keyring, constantTimeEqual, randomToken, sha256Hex, sha256HexSync, type Secrets } from './secrets.ts'
export { Registry, Services, type Registries, type TesseraServices } from './registry.ts'
export type { Subject, SubjectResolver } from './subject.ts'
export type { ActiveSession, SessionService, IdentityLoginService, LoginChallengeHandler, LoginRequestLookup, PermissionCheckRequest, PermissionService, CourierMessageRequest, CourierService } from './services.ts'
export type { KeyRotation, KeyStore, PublicJwk, SigningKey } from './services.ts'
export type { ClientCredentialsToken, OAuth2TokenService, SessionEndService, TokenIntrospection, OAuth2PagesService, OAuth2ConsentView, OAuth2DeviceView, OAuth2LogoutView, OAuth2ErrorView } from './services.ts'
export { configuredPublicBaseUrl, requestIdFor, type RequestContext, type RouteApp, type ContextResolver, type PeerLookup } from './http/context.ts'
export { MAX_JSON_DEPTH, parseJsonBody, unstorable } from './http/edge.ts'
export { cidrList, cidrProblem, clientAddressOf, inCidrList } from './net.ts'
export type { Operation, OperationBody, OperationResponse, Operations, HttpMethod } from './http/operations.ts'
export { parse, parseAsync } from './validation.ts'
export { Kernel } from './kernel/kernel.ts'
export { listen, PortInUseError, type ListenAddress, type ListenHandlers } from './listen.ts'
export { VERSION } from './version.ts'
export * from './pipeline/types.ts'
export { compilePipeline, type CompiledPipeline } from './pipeline/run.ts'
export type * from './flows/types.ts'
export { inputNode } from './flows/types.ts'
export * from './storage/index.ts'

/**
 * The config type a pipeline handler's valibot `config` schema gives its methods:
 * `const Config = v.object({ header: v.optional(v.string(), 'X-Key') })`, then `Authenticator<HandlerConfig<typeof Config>>`.
 */
export type HandlerConfig<S extends import('valibot').GenericSchema> = import('valibot').InferOutput<S>
