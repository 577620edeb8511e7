/**
 * Tessera's public API (`import ... from 'tessera'`).
 */
export { defineConfig } from './config/schema.ts'
export type { ResolvedConfig, TesseraConfig, ValidatedConfig, TenantResolver } from './config/schema.ts'
export { loadConfig, resolveConfig, ENV_OVERRIDES, type PluginCatalog } from './config/load.ts'
export { definePlugin, isPluginInstance } from './plugin.ts'
export type { Awaitable } from './types.ts'
export type {
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
export { periodic, type PeriodicJob } from './periodic.ts'
export { Keyring, constantTimeEqual, randomToken, sha256Hex, sha256HexSync, type Secrets } from './secrets.ts'
export { Registry, Services, type Registries, type TesseraServices } from './registry.ts'
export type { Subject, SubjectResolver } from './subject.ts'
export type { ActiveSession, SessionService, PermissionCheckRequest, PermissionService, PasswordImporter } from './services.ts'
export type { RequestContext, RouteApp } from './http/context.ts'
export { parse } from './validation.ts'
export { Kernel } from './kernel/kernel.ts'
export { serve, type RunningServer } from './server.ts'
export { VERSION } from './version.ts'
export * from './pipeline/types.ts'
export { TemplateString, compileTemplate, templateData, type Template } from './pipeline/template.ts'
export { compilePipeline, type CompiledPipeline } from './pipeline/run.ts'
export type * from './flows/types.ts'
export * from './storage/index.ts'
