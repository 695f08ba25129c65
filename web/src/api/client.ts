// The typed client of the sluice REST API (server/openapi.yaml). Every route
// the console calls is listed in `routes`, which contract.test.ts checks
// against the OpenAPI document, so a renamed route fails the unit tests
// instead of a page.
import type * as T from './types'

export const routes = {
  login: ['POST', '/api/v1/auth/login'],
  logout: ['POST', '/api/v1/auth/logout'],
  me: ['GET', '/api/v1/me'],
  changePassword: ['PUT', '/api/v1/me/password'],

  listUsers: ['GET', '/api/v1/users'],
  createUser: ['POST', '/api/v1/users'],
  getUser: ['GET', '/api/v1/users/{id}'],
  updateUser: ['PATCH', '/api/v1/users/{id}'],
  deleteUser: ['DELETE', '/api/v1/users/{id}'],

  listTokens: ['GET', '/api/v1/tokens'],
  createToken: ['POST', '/api/v1/tokens'],
  deleteToken: ['DELETE', '/api/v1/tokens/{id}'],

  listDataSources: ['GET', '/api/v1/data-sources'],
  createDataSource: ['POST', '/api/v1/data-sources'],
  testNewDataSource: ['POST', '/api/v1/data-sources/test'],
  getDataSource: ['GET', '/api/v1/data-sources/{name}'],
  updateDataSource: ['PUT', '/api/v1/data-sources/{name}'],
  deleteDataSource: ['DELETE', '/api/v1/data-sources/{name}'],
  testDataSource: ['POST', '/api/v1/data-sources/{name}/test'],
  listTables: ['GET', '/api/v1/data-sources/{name}/tables'],

  listPipelines: ['GET', '/api/v1/pipelines'],
  createPipeline: ['POST', '/api/v1/pipelines'],
  previewSelection: ['POST', '/api/v1/pipelines/preview'],
  getPipeline: ['GET', '/api/v1/pipelines/{name}'],
  updatePipeline: ['PUT', '/api/v1/pipelines/{name}'],
  deletePipeline: ['DELETE', '/api/v1/pipelines/{name}'],
  pipelineStatus: ['GET', '/api/v1/pipelines/{name}/status'],
  startPipeline: ['POST', '/api/v1/pipelines/{name}/start'],
  stopPipeline: ['POST', '/api/v1/pipelines/{name}/stop'],
  resumePipeline: ['POST', '/api/v1/pipelines/{name}/resume'],
  skipPipeline: ['POST', '/api/v1/pipelines/{name}/skip'],
  resetPipeline: ['POST', '/api/v1/pipelines/{name}/reset'],

  listChannels: ['GET', '/api/v1/channels'],
  createChannel: ['POST', '/api/v1/channels'],
  getChannel: ['GET', '/api/v1/channels/{name}'],
  updateChannel: ['PUT', '/api/v1/channels/{name}'],
  deleteChannel: ['DELETE', '/api/v1/channels/{name}'],
  channelTopology: ['GET', '/api/v1/channels/{name}/topology'],

  listChecks: ['GET', '/api/v1/checks'],
  createCheck: ['POST', '/api/v1/checks'],
  getCheck: ['GET', '/api/v1/checks/{id}'],
  deleteCheck: ['DELETE', '/api/v1/checks/{id}'],
  repairSQL: ['GET', '/api/v1/checks/{id}/repair.sql'],
  applyRepair: ['POST', '/api/v1/checks/{id}/repair'],

  listJobs: ['GET', '/api/v1/jobs'],
  createJob: ['POST', '/api/v1/jobs'],
  previewSchedule: ['POST', '/api/v1/jobs/preview'],
  getJob: ['GET', '/api/v1/jobs/{id}'],
  updateJob: ['PUT', '/api/v1/jobs/{id}'],
  deleteJob: ['DELETE', '/api/v1/jobs/{id}'],
  pauseJob: ['POST', '/api/v1/jobs/{id}/pause'],
  resumeJob: ['POST', '/api/v1/jobs/{id}/resume'],
  runJob: ['POST', '/api/v1/jobs/{id}/run'],
  jobNext: ['GET', '/api/v1/jobs/{id}/next'],
  jobRuns: ['GET', '/api/v1/jobs/{id}/runs'],
  getRun: ['GET', '/api/v1/runs/{id}'],
  cancelRun: ['POST', '/api/v1/runs/{id}/cancel'],

  alertSettings: ['GET', '/api/v1/alerts/settings'],
  saveAlertSettings: ['PUT', '/api/v1/alerts/settings'],
  testAlert: ['POST', '/api/v1/alerts/test'],

  listNodes: ['GET', '/api/v1/nodes'],
  events: ['GET', '/api/v1/events'],
} as const satisfies Record<string, readonly [string, string]>

export type RouteName = keyof typeof routes

/** ApiError is a failed request, carrying the API's stable error shape. */
export class ApiError extends Error {
  readonly status: number
  readonly code: T.ErrorCode | 'network'
  readonly field?: string
  readonly retryAfter?: number

  constructor(status: number, code: T.ErrorCode | 'network', message: string, field?: string, retryAfter?: number) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.field = field
    this.retryAfter = retryAfter
  }
}

/** path fills a route template's {placeholders}, escaping each value. */
export function path(template: string, params: Record<string, string | number> = {}): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => {
    const v = params[k]
    if (v === undefined || v === '') throw new Error(`missing path parameter ${k} for ${template}`)
    return encodeURIComponent(String(v))
  })
}

/** query renders parameters as a query string, repeating array values. */
export function query(params: Record<string, string | number | boolean | string[] | undefined>): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === '') continue
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x))
    else q.append(k, String(v))
  }
  const s = q.toString()
  return s ? `?${s}` : ''
}

/** cookie reads one cookie from a document.cookie string. */
export function cookie(all: string, name: string): string | undefined {
  for (const part of all.split(';')) {
    const i = part.indexOf('=')
    if (i < 0) continue
    if (part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim())
  }
  return undefined
}

export interface ClientOptions {
  fetch?: typeof fetch
  /** base URL prefix, '' for same origin */
  base?: string
  /** reads document.cookie; the CSRF token is taken from sluice_csrf */
  cookies?: () => string
  /** called on any 401, e.g. to send the user to the login page */
  onUnauthenticated?: (err: ApiError) => void
}

const unsafe = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

export function createClient(opts: ClientOptions = {}) {
  const doFetch = opts.fetch ?? ((...a: Parameters<typeof fetch>) => fetch(...a))
  const base = opts.base ?? ''
  const cookies = opts.cookies ?? (() => (typeof document === 'undefined' ? '' : document.cookie))
  let csrf: string | undefined

  async function call<R>(
    name: RouteName,
    params: Record<string, string | number> = {},
    body?: unknown,
    q = '',
  ): Promise<R> {
    const [method, template] = routes[name]
    const headers: Record<string, string> = { Accept: 'application/json' }
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    if (unsafe.has(method)) {
      const token = cookie(cookies(), 'sluice_csrf') ?? csrf
      if (token) headers['X-CSRF-Token'] = token
    }
    let res: Response
    try {
      res = await doFetch(base + path(template, params) + q, {
        method,
        headers,
        credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    } catch (e) {
      throw new ApiError(0, 'network', `cannot reach the sluice server: ${(e as Error).message}`)
    }
    if (!res.ok) {
      const err = await toError(res)
      if (err.status === 401 && name !== 'login') opts.onUnauthenticated?.(err)
      throw err
    }
    if (res.status === 204 || res.status === 202 && res.headers.get('Content-Length') === '0') return undefined as R
    const text = await res.text()
    if (!text) return undefined as R
    const ct = res.headers.get('Content-Type') ?? ''
    if (!ct.includes('json')) return text as R
    return JSON.parse(text) as R
  }

  const setCSRF = (me: T.Me) => {
    if (me.csrf_token) csrf = me.csrf_token
    return me
  }

  return {
    call,
    /** URL of a route, for links (downloads) and EventSource. */
    url: (name: RouteName, params: Record<string, string | number> = {}, q = '') =>
      base + path(routes[name][1], params) + q,

    login: (req: T.LoginRequest) => call<T.Me>('login', {}, req).then(setCSRF),
    logout: () => call<void>('logout', {}, undefined),
    me: () => call<T.Me>('me').then(setCSRF),
    changePassword: (req: T.PasswordChange) => call<void>('changePassword', {}, req),

    listUsers: () => call<{ users: T.User[] }>('listUsers').then((r) => r.users ?? []),
    createUser: (u: T.UserCreate) => call<T.User>('createUser', {}, u),
    getUser: (id: number) => call<T.User>('getUser', { id }),
    updateUser: (id: number, u: T.UserUpdate) => call<T.User>('updateUser', { id }, u),
    deleteUser: (id: number) => call<void>('deleteUser', { id }),

    listTokens: (all = false) =>
      call<{ tokens: T.Token[] }>('listTokens', {}, undefined, query({ all: all || undefined })).then((r) => r.tokens ?? []),
    createToken: (t: T.TokenCreate) => call<T.TokenCreated>('createToken', {}, t),
    deleteToken: (id: number) => call<void>('deleteToken', { id }),

    listDataSources: () =>
      call<{ data_sources: T.DataSource[] }>('listDataSources').then((r) => r.data_sources ?? []),
    createDataSource: (d: T.DataSourceInput) => call<T.DataSource>('createDataSource', {}, d),
    testNewDataSource: (d: T.DataSourceInput) => call<T.ConnectionTest>('testNewDataSource', {}, d),
    getDataSource: (name: string) => call<T.DataSource>('getDataSource', { name }),
    updateDataSource: (name: string, d: T.DataSourceInput) => call<T.DataSource>('updateDataSource', { name }, d),
    deleteDataSource: (name: string) => call<void>('deleteDataSource', { name }),
    testDataSource: (name: string) => call<T.ConnectionTest>('testDataSource', { name }, undefined),
    listTables: (name: string) => call<{ tables: T.TableName[] }>('listTables', { name }).then((r) => r.tables ?? []),

    listPipelines: (channel?: string) =>
      call<{ pipelines: T.Pipeline[] }>('listPipelines', {}, undefined, query({ channel })).then((r) => r.pipelines ?? []),
    createPipeline: (p: T.PipelineInput) => call<T.Pipeline>('createPipeline', {}, p),
    previewSelection: (r: T.SelectionPreviewRequest) => call<T.SelectionPreview>('previewSelection', {}, r),
    getPipeline: (name: string) => call<T.Pipeline>('getPipeline', { name }),
    updatePipeline: (name: string, p: T.PipelineInput) => call<T.Pipeline>('updatePipeline', { name }, p),
    deletePipeline: (name: string) => call<void>('deletePipeline', { name }),
    pipelineStatus: (name: string) => call<T.PipelineStatus>('pipelineStatus', { name }),
    startPipeline: (name: string) => call<T.Pipeline>('startPipeline', { name }, undefined),
    stopPipeline: (name: string) => call<T.Pipeline>('stopPipeline', { name }, undefined),
    resumePipeline: (name: string) => call<T.Pipeline>('resumePipeline', { name }, undefined),
    skipPipeline: (name: string, r: T.SkipRule) => call<T.Pipeline>('skipPipeline', { name }, r),
    resetPipeline: (name: string, r: T.ResetRequest) => call<T.Pipeline>('resetPipeline', { name }, r),

    listChannels: () => call<{ channels: T.Channel[] }>('listChannels').then((r) => r.channels ?? []),
    createChannel: (c: T.ChannelInput) => call<T.Channel>('createChannel', {}, c),
    getChannel: (name: string) => call<T.Channel>('getChannel', { name }),
    updateChannel: (name: string, c: T.ChannelInput) => call<T.Channel>('updateChannel', { name }, c),
    deleteChannel: (name: string) => call<void>('deleteChannel', { name }),
    channelTopology: (name: string) => call<T.Topology>('channelTopology', { name }),

    listChecks: (limit?: number) =>
      call<{ checks: T.Check[] }>('listChecks', {}, undefined, query({ limit })).then((r) => r.checks ?? []),
    createCheck: (c: T.CheckRequest) => call<T.Check>('createCheck', {}, c),
    getCheck: (id: number) => call<T.Check>('getCheck', { id }),
    deleteCheck: (id: number) => call<void>('deleteCheck', { id }),
    repairSQL: (id: number) => call<string>('repairSQL', { id }),
    applyRepair: (id: number) => call<T.Check>('applyRepair', { id }, undefined),

    listJobs: () => call<{ jobs: T.Job[] }>('listJobs').then((r) => r.jobs ?? []),
    createJob: (j: T.JobInput) => call<T.Job>('createJob', {}, j),
    previewSchedule: (r: T.SchedulePreviewRequest) => call<T.NextFires>('previewSchedule', {}, r),
    getJob: (id: number) => call<T.Job>('getJob', { id }),
    updateJob: (id: number, j: T.JobInput) => call<T.Job>('updateJob', { id }, j),
    deleteJob: (id: number) => call<void>('deleteJob', { id }),
    pauseJob: (id: number) => call<T.Job>('pauseJob', { id }, undefined),
    resumeJob: (id: number) => call<T.Job>('resumeJob', { id }, undefined),
    runJob: (id: number) => call<T.Run>('runJob', { id }, undefined),
    jobNext: (id: number, count = 5) => call<T.NextFires>('jobNext', { id }, undefined, query({ count })),
    jobRuns: (id: number, limit?: number) =>
      call<{ runs: T.Run[] }>('jobRuns', { id }, undefined, query({ limit })).then((r) => r.runs ?? []),
    getRun: (id: number) => call<T.Run>('getRun', { id }),
    cancelRun: (id: number) => call<void>('cancelRun', { id }, undefined),

    alertSettings: () => call<T.AlertSettings>('alertSettings'),
    saveAlertSettings: (s: T.AlertSettings) => call<T.AlertSettings>('saveAlertSettings', {}, s),
    testAlert: () => call<void>('testAlert', {}, undefined),

    listNodes: () => call<{ nodes: T.ServerNode[] }>('listNodes').then((r) => r.nodes ?? []),
    eventsURL: (pipelines: string[] = []) => base + routes.events[1] + query({ pipeline: pipelines }),
  }
}

export type Client = ReturnType<typeof createClient>

async function toError(res: Response): Promise<ApiError> {
  const retry = Number(res.headers.get('Retry-After') ?? '') || undefined
  let text = ''
  try {
    text = await res.text()
  } catch {
    // the body is lost; the status still says what happened
  }
  try {
    const b = JSON.parse(text) as T.ErrorBody
    if (b?.error?.code) return new ApiError(res.status, b.error.code, b.error.message, b.error.field, retry)
  } catch {
    // not JSON: a proxy's page or a plain-text error
  }
  const code: T.ErrorCode =
    res.status === 401 ? 'unauthenticated'
    : res.status === 403 ? 'permission_denied'
    : res.status === 404 ? 'not_found'
    : res.status === 429 ? 'rate_limited'
    : res.status >= 500 ? 'internal'
    : 'bad_request'
  return new ApiError(res.status, code, text.trim() || `${res.status} ${res.statusText}`, undefined, retry)
}
