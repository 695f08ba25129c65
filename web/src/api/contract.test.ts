// The client's routes must exist in the server's contract, with the same
// method: server/openapi.yaml is the source of truth for the API.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { routes } from './client'

/** operations lists "METHOD /path" for every operation under `paths:` in an OpenAPI YAML file. */
export function operations(yaml: string): Set<string> {
  const ops = new Set<string>()
  let inPaths = false
  let current = ''
  for (const line of yaml.split('\n')) {
    if (/^\S/.test(line)) inPaths = line.startsWith('paths:')
    if (!inPaths) continue
    const p = line.match(/^ {2}(\/\S*):\s*$/)
    if (p) {
      current = p[1]
      continue
    }
    const m = line.match(/^ {4}(get|put|post|patch|delete|head|options):\s*$/)
    if (m && current) ops.add(`${m[1].toUpperCase()} ${current}`)
  }
  return ops
}

describe('contract', () => {
  const yaml = readFileSync(join(__dirname, '../../../server/openapi.yaml'), 'utf8')
  const ops = operations(yaml)

  it('parses the contract', () => {
    expect(ops.size).toBeGreaterThan(40)
    expect(ops.has('POST /api/v1/auth/login')).toBe(true)
  })

  it.each(Object.entries(routes))('%s is in server/openapi.yaml', (_name, [method, template]) => {
    expect(ops.has(`${method} ${template}`), `${method} ${template}`).toBe(true)
  })

  it('the console uses every API operation (or says why not)', () => {
    // Routes the console deliberately leaves to the CLI and scripts.
    const unused = new Set(['GET /healthz', 'GET /metrics', 'GET /openapi.yaml', 'GET /api/v1/channels/{name}/pipelines'])
    const used = new Set(Object.values(routes).map(([m, p]) => `${m} ${p}`))
    const missing = [...ops].filter((o) => !used.has(o) && !unused.has(o))
    expect(missing).toEqual([])
  })
})
