// The pipeline wizard's form and its conversion to and from the API's
// PipelineInput. Pure, so that wizard.test.ts can pin what the wizard sends.
import type { Op, Pipeline, PipelineConfig, PipelineInput, TableRule } from '@/api/types'
import { splitList } from './format'

export interface RuleForm {
  source: string
  target: string
  columns: string[]
  exclude_columns: string[]
  renames: { from: string; to: string }[]
}

export interface WizardForm {
  name: string
  description: string
  source: string
  target: string
  channel: string
  rules: RuleForm[]
  exclude: string
  from: string
  snapshot: 'auto' | 'none' | 'only'
  ops: Op[]
  ddl: 'replicate' | 'skip'
  workers: number
  heartbeat: string
  alert_lag_seconds: number
  alert_lag_for: string
}

export const allOps: Op[] = ['insert', 'update', 'delete', 'ddl']

export function emptyRule(source = ''): RuleForm {
  return { source, target: '', columns: [], exclude_columns: [], renames: [] }
}

export function emptyWizard(): WizardForm {
  return {
    name: '',
    description: '',
    source: '',
    target: '',
    channel: '',
    rules: [emptyRule()],
    exclude: '',
    from: '',
    snapshot: 'auto',
    ops: [...allOps],
    ddl: 'replicate',
    workers: 0,
    heartbeat: '',
    alert_lag_seconds: 0,
    alert_lag_for: '',
  }
}

/** toRule turns one rule of the form into the API's TableRule, leaving out what is empty. */
export function toRule(r: RuleForm): TableRule {
  const rule: TableRule = { source: r.source.trim() }
  if (r.target.trim()) rule.target = r.target.trim()
  if (r.columns.length) rule.columns = [...r.columns]
  if (r.exclude_columns.length) rule.exclude_columns = [...r.exclude_columns]
  const renames = r.renames.filter((x) => x.from.trim() && x.to.trim())
  if (renames.length) rule.rename_columns = Object.fromEntries(renames.map((x) => [x.from.trim(), x.to.trim()]))
  return rule
}

/** rules are the form's non-empty table rules. */
export function rules(f: WizardForm): TableRule[] {
  return f.rules.filter((r) => r.source.trim()).map(toRule)
}

/**
 * toInput builds the PipelineInput the wizard sends. Config keys the wizard
 * does not edit (skip rules, state schema, server id, two-way settings, apply
 * group sizes) are carried over from the pipeline being edited.
 */
export function toInput(f: WizardForm, base?: PipelineConfig): PipelineInput {
  const config: PipelineConfig = { ...(base ?? {}), tables: rules(f) }
  const exclude = splitList(f.exclude)
  if (exclude.length) config.exclude = exclude
  else delete config.exclude
  if (f.from.trim()) config.from = f.from.trim()
  else delete config.from
  config.snapshot = f.snapshot
  // All operations is the default; sending none keeps the YAML minimal.
  if (f.ops.length && f.ops.length < allOps.length) config.ops = allOps.filter((o) => f.ops.includes(o))
  else delete config.ops
  config.ddl = f.ddl
  if (f.workers > 0) config.apply = { ...(config.apply ?? {}), workers: f.workers }
  else if (config.apply) {
    const { workers: _w, ...rest } = config.apply
    void _w
    if (Object.keys(rest).length) config.apply = rest
    else delete config.apply
  }
  if (f.heartbeat.trim()) config.heartbeat = f.heartbeat.trim()
  else delete config.heartbeat
  const input: PipelineInput = { name: f.name.trim(), source: f.source, target: f.target, config }
  if (f.description.trim()) input.description = f.description.trim()
  if (f.channel.trim()) input.channel = f.channel.trim()
  if (f.alert_lag_seconds > 0) input.alert_lag_seconds = f.alert_lag_seconds
  if (f.alert_lag_for.trim()) input.alert_lag_for = f.alert_lag_for.trim()
  return input
}

/** fromPipeline fills the form from a saved pipeline, for editing. */
export function fromPipeline(p: Pipeline): WizardForm {
  const c = p.config ?? { tables: [] }
  return {
    name: p.name,
    description: p.description ?? '',
    source: p.source,
    target: p.target,
    channel: p.channel ?? '',
    rules: (c.tables?.length ? c.tables : [{ source: '' }]).map((r) => ({
      source: r.source,
      target: r.target ?? '',
      columns: [...(r.columns ?? [])],
      exclude_columns: [...(r.exclude_columns ?? [])],
      renames: Object.entries(r.rename_columns ?? {}).map(([from, to]) => ({ from, to })),
    })),
    exclude: (c.exclude ?? []).join(', '),
    from: c.from ?? '',
    snapshot: c.snapshot ?? 'auto',
    ops: c.ops?.length ? [...c.ops] : [...allOps],
    ddl: c.ddl ?? 'replicate',
    workers: c.apply?.workers ?? 0,
    heartbeat: c.heartbeat ?? '',
    alert_lag_seconds: p.alert_lag_seconds ?? 0,
    alert_lag_for: p.alert_lag_for ?? '',
  }
}

/** quoteName returns a table name as a pattern matching exactly it (* and ? are wildcards in patterns). */
export function tablePattern(schema: string, table: string): string {
  return `${schema}.${table}`
}

/**
 * matches reports whether a schema.table name matches a pattern with * and ?
 * within each part; the console uses it only to mark the source tables a rule
 * already covers, while the server's preview is the authority.
 */
export function matches(pattern: string, schema: string, table: string): boolean {
  const dot = pattern.indexOf('.')
  if (dot < 0) return false
  const glob = (p: string, s: string) =>
    new RegExp('^' + p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$').test(s)
  return glob(pattern.slice(0, dot), schema) && glob(pattern.slice(dot + 1), table)
}
