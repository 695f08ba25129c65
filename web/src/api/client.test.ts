import { describe, expect, it } from 'vitest'
import { ApiError, cookie, createClient, path, query } from './client'

interface Call {
  url: string
  method: string
  headers: Record<string, string>
  body?: string
}

/** server answers each request with the next canned response and records what was sent. */
function server(...responses: Response[]) {
  const calls: Call[] = []
  const fetch = async (url: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: String(url), method: init?.method ?? 'GET', headers: (init?.headers ?? {}) as Record<string, string>, body: init?.body as string | undefined })
    const r = responses.shift()
    if (!r) throw new Error('no more responses')
    return r
  }
  return { calls, fetch: fetch as typeof globalThis.fetch }
}
const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } })

describe('path and query', () => {
  it('fills and escapes path parameters', () => {
    expect(path('/api/v1/pipelines/{name}/start', { name: 'a b/c' })).toBe('/api/v1/pipelines/a%20b%2Fc/start')
    expect(path('/api/v1/jobs/{id}', { id: 7 })).toBe('/api/v1/jobs/7')
    expect(() => path('/api/v1/jobs/{id}', {})).toThrow(/missing path parameter id/)
  })
  it('repeats array values and drops empty ones', () => {
    expect(query({ pipeline: ['a', 'b'], limit: 5, x: undefined, y: '' })).toBe('?pipeline=a&pipeline=b&limit=5')
    expect(query({})).toBe('')
  })
  it('reads cookies', () => {
    expect(cookie('a=1; sluice_csrf=tok%3D; b=2', 'sluice_csrf')).toBe('tok=')
    expect(cookie('a=1', 'sluice_csrf')).toBeUndefined()
    expect(cookie('', 'x')).toBeUndefined()
  })
})

describe('client', () => {
  it('sends JSON with the CSRF cookie on unsafe methods only', async () => {
    const s = server(json(201, { name: 'src' }), json(200, { data_sources: [] }))
    const api = createClient({ fetch: s.fetch, cookies: () => 'sluice_csrf=abc' })
    await api.createDataSource({ name: 'src', host: '127.0.0.1', port: 3306 })
    await api.listDataSources()
    expect(s.calls[0]).toMatchObject({ url: '/api/v1/data-sources', method: 'POST' })
    expect(s.calls[0].headers['X-CSRF-Token']).toBe('abc')
    expect(s.calls[0].headers['Content-Type']).toBe('application/json')
    expect(JSON.parse(s.calls[0].body!)).toEqual({ name: 'src', host: '127.0.0.1', port: 3306 })
    expect(s.calls[1].method).toBe('GET')
    expect(s.calls[1].headers['X-CSRF-Token']).toBeUndefined()
  })

  it('uses the CSRF token from login when the cookie is not readable', async () => {
    const me = { user: { id: 1, username: 'admin', role: 'admin', disabled: false, created_at: '' }, role: 'admin', auth: 'session', csrf_token: 'fromlogin' }
    const s = server(json(200, me), new Response(null, { status: 204 }))
    const api = createClient({ fetch: s.fetch, cookies: () => '' })
    await api.login({ username: 'admin', password: 'pw' })
    await api.deletePipeline('p1')
    expect(s.calls[1]).toMatchObject({ url: '/api/v1/pipelines/p1', method: 'DELETE' })
    expect(s.calls[1].headers['X-CSRF-Token']).toBe('fromlogin')
  })

  it('unwraps list envelopes', async () => {
    const s = server(json(200, { pipelines: [{ name: 'a' }] }), json(200, { jobs: [{ id: 1 }] }), json(200, { runs: [] }))
    const api = createClient({ fetch: s.fetch, cookies: () => '' })
    expect(await api.listPipelines('ch1')).toEqual([{ name: 'a' }])
    expect(s.calls[0].url).toBe('/api/v1/pipelines?channel=ch1')
    expect(await api.listJobs()).toEqual([{ id: 1 }])
    expect(await api.jobRuns(3, 10)).toEqual([])
    expect(s.calls[2].url).toBe('/api/v1/jobs/3/runs?limit=10')
  })

  it('turns the error shape into ApiError with code, message and field', async () => {
    const s = server(json(422, { error: { code: 'invalid_argument', message: 'minute 61 is out of range 0-59', field: 'schedule' } }))
    const api = createClient({ fetch: s.fetch, cookies: () => '' })
    const err = await api.previewSchedule({ schedule: '61 * * * *' }).catch((e) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ status: 422, code: 'invalid_argument', field: 'schedule', message: 'minute 61 is out of range 0-59' })
  })

  it('reads Retry-After on 429 and survives non-JSON errors', async () => {
    const s = server(
      json(429, { error: { code: 'rate_limited', message: 'too many login attempts' } }, { 'Retry-After': '42' }),
      new Response('bad gateway', { status: 502, headers: { 'Content-Type': 'text/plain' } }),
    )
    const api = createClient({ fetch: s.fetch, cookies: () => '' })
    const a = await api.login({ username: 'x', password: 'y' }).catch((e) => e)
    expect(a).toMatchObject({ code: 'rate_limited', retryAfter: 42 })
    const b = await api.listUsers().catch((e) => e)
    expect(b).toMatchObject({ status: 502, code: 'internal', message: 'bad gateway' })
  })

  it('reports 401 to the app, except for a failed login', async () => {
    let told = 0
    const s = server(json(401, { error: { code: 'unauthenticated', message: 'log in' } }), json(401, { error: { code: 'unauthenticated', message: 'wrong password' } }))
    const api = createClient({ fetch: s.fetch, cookies: () => '', onUnauthenticated: () => told++ })
    await api.me().catch(() => null)
    expect(told).toBe(1)
    await api.login({ username: 'a', password: 'b' }).catch(() => null)
    expect(told).toBe(1)
  })

  it('says when the server cannot be reached', async () => {
    const api = createClient({ fetch: (async () => { throw new TypeError('Failed to fetch') }) as typeof fetch, cookies: () => '' })
    const err = await api.listJobs().catch((e) => e)
    expect(err).toMatchObject({ status: 0, code: 'network' })
  })

  it('returns text for the repair SQL download and nothing for 204', async () => {
    const s = server(new Response('REPLACE INTO `shop`.`t` VALUES (1);\n', { status: 200, headers: { 'Content-Type': 'application/sql' } }), new Response(null, { status: 204 }))
    const api = createClient({ fetch: s.fetch, cookies: () => '' })
    expect(await api.repairSQL(9)).toContain('REPLACE INTO')
    expect(s.calls[0].url).toBe('/api/v1/checks/9/repair.sql')
    expect(await api.deleteCheck(9)).toBeUndefined()
  })

  it('builds the event stream URL with repeated pipeline parameters', () => {
    const api = createClient({ fetch: (async () => new Response()) as typeof fetch, cookies: () => '' })
    expect(api.eventsURL(['a', 'b'])).toBe('/api/v1/events?pipeline=a&pipeline=b')
    expect(api.eventsURL()).toBe('/api/v1/events')
    expect(api.url('repairSQL', { id: 4 })).toBe('/api/v1/checks/4/repair.sql')
  })
})
