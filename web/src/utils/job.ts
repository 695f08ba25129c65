// The job form and its conversion to the API's JobInput, per kind. Pure, so
// that job.test.ts can pin what the form sends.
import type { Job, JobInput, JobKind, MisfirePolicy, OverlapPolicy } from '@/api/types'
import { splitList } from './format'

export interface JobForm {
  name: string
  description: string
  kind: JobKind
  schedule: string
  time_zone: string
  paused: boolean
  misfire_policy: MisfirePolicy
  overlap_policy: OverlapPolicy
  max_retries: number
  retry_backoff: string
  timeout: string
  alert_url: string
  http: { method: string; url: string; body: string; expect_status: number }
  sql: { data_source: string; statement: string; max_rows: number }
  shell: { command: string; dir: string }
  check: { pipeline: string; source: string; target: string; tables: string; map: string; repair: boolean }
}

export function emptyJob(): JobForm {
  return {
    name: '',
    description: '',
    kind: 'http',
    schedule: '0 */5 * * * *',
    time_zone: 'UTC',
    paused: false,
    misfire_policy: 'fire_once',
    overlap_policy: 'allow',
    max_retries: 0,
    retry_backoff: '',
    timeout: '',
    alert_url: '',
    http: { method: 'GET', url: '', body: '', expect_status: 0 },
    sql: { data_source: '', statement: '', max_rows: 0 },
    shell: { command: '', dir: '' },
    check: { pipeline: '', source: '', target: '', tables: '', map: '', repair: false },
  }
}

/** kindConfig is the `config` object of the chosen kind, leaving out empty fields. */
export function kindConfig(f: JobForm): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const put = (k: string, v: unknown) => {
    if (v === '' || v === 0 || v === false || v === undefined || (Array.isArray(v) && !v.length)) return
    out[k] = v
  }
  switch (f.kind) {
    case 'http':
      put('method', f.http.method)
      put('url', f.http.url.trim())
      put('body', f.http.body)
      put('expect_status', f.http.expect_status)
      break
    case 'sql':
      put('data_source', f.sql.data_source)
      put('statement', f.sql.statement.trim())
      put('max_rows', f.sql.max_rows)
      break
    case 'shell':
      put('command', f.shell.command.trim())
      put('dir', f.shell.dir.trim())
      break
    case 'check':
      put('pipeline', f.check.pipeline)
      put('source', f.check.source)
      put('target', f.check.target)
      put('tables', splitList(f.check.tables))
      put('map', splitList(f.check.map))
      if (f.check.repair) out.repair = 'apply'
      break
  }
  return out
}

export function toJobInput(f: JobForm): JobInput {
  const j: JobInput = {
    name: f.name.trim(),
    schedule: f.schedule.trim(),
    time_zone: f.time_zone || 'UTC',
    kind: f.kind,
    config: kindConfig(f),
    paused: f.paused,
    misfire_policy: f.misfire_policy,
    overlap_policy: f.overlap_policy,
    max_retries: f.max_retries,
  }
  if (f.description.trim()) j.description = f.description.trim()
  if (f.retry_backoff.trim()) j.retry_backoff = f.retry_backoff.trim()
  if (f.timeout.trim()) j.timeout = f.timeout.trim()
  if (f.alert_url.trim()) j.alert_url = f.alert_url.trim()
  return j
}

const str = (v: unknown) => (typeof v === 'string' ? v : '')
const num = (v: unknown) => (typeof v === 'number' ? v : 0)
const list = (v: unknown) => (Array.isArray(v) ? v.map(String).join(', ') : '')

export function fromJob(j: Job): JobForm {
  const f = emptyJob()
  const c = j.config ?? {}
  Object.assign(f, {
    name: j.name,
    description: j.description ?? '',
    kind: j.kind,
    schedule: j.schedule,
    time_zone: j.time_zone || 'UTC',
    paused: j.paused,
    misfire_policy: j.misfire_policy,
    overlap_policy: j.overlap_policy,
    max_retries: j.max_retries ?? 0,
    retry_backoff: j.retry_backoff ?? '',
    timeout: j.timeout && j.timeout !== '0s' ? j.timeout : '',
    alert_url: j.alert_url ?? '',
  })
  if (j.kind === 'http') f.http = { method: str(c.method) || 'GET', url: str(c.url), body: str(c.body), expect_status: num(c.expect_status) }
  if (j.kind === 'sql') f.sql = { data_source: str(c.data_source), statement: str(c.statement), max_rows: num(c.max_rows) }
  if (j.kind === 'shell') f.shell = { command: str(c.command), dir: str(c.dir) }
  if (j.kind === 'check')
    f.check = { pipeline: str(c.pipeline), source: str(c.source), target: str(c.target), tables: list(c.tables), map: list(c.map), repair: c.repair === 'apply' }
  return f
}

/** commonZones are offered first in the time zone picker; any IANA name may be typed. */
export const commonZones = ['UTC', 'Asia/Shanghai', 'Asia/Tokyo', 'Asia/Singapore', 'Europe/London', 'Europe/Berlin', 'America/New_York', 'America/Los_Angeles']
