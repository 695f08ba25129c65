import { describe, expect, it } from 'vitest'
import type { Job } from '@/api/types'
import { emptyJob, fromJob, kindConfig, toJobInput } from './job'

describe('job form', () => {
  it('sends only the chosen kind and non-empty fields', () => {
    const f = emptyJob()
    Object.assign(f, { name: ' nightly ', kind: 'sql', schedule: ' */10 * * * * * ', time_zone: 'Asia/Shanghai', max_retries: 2, timeout: '5m' })
    f.sql = { data_source: 'src', statement: ' SELECT 1 ', max_rows: 0 }
    f.http.url = 'https://ignored.example'
    expect(toJobInput(f)).toEqual({
      name: 'nightly',
      schedule: '*/10 * * * * *',
      time_zone: 'Asia/Shanghai',
      kind: 'sql',
      config: { data_source: 'src', statement: 'SELECT 1' },
      paused: false,
      misfire_policy: 'fire_once',
      overlap_policy: 'allow',
      max_retries: 2,
      timeout: '5m',
    })
  })

  it('builds the check kind config from lists', () => {
    const f = emptyJob()
    f.kind = 'check'
    f.check = { pipeline: '', source: 'a', target: 'b', tables: 'shop.*, crm.users', map: 'shop.*:copy.*', repair: true }
    expect(kindConfig(f)).toEqual({ source: 'a', target: 'b', tables: ['shop.*', 'crm.users'], map: ['shop.*:copy.*'], repair: 'apply' })
  })

  it('round-trips a saved job', () => {
    const j: Job = {
      id: 3, name: 'ping', schedule: '@every 10s', time_zone: 'UTC', kind: 'http', paused: true,
      config: { method: 'POST', url: 'http://127.0.0.1:9/x', expect_status: 204 },
      misfire_policy: 'skip', overlap_policy: 'forbid', max_retries: 1, retry_backoff: '2s', timeout: '0s', created_at: '', updated_at: '',
    }
    const input = toJobInput(fromJob(j))
    expect(input).toEqual({
      name: 'ping', schedule: '@every 10s', time_zone: 'UTC', kind: 'http', paused: true,
      config: { method: 'POST', url: 'http://127.0.0.1:9/x', expect_status: 204 },
      misfire_policy: 'skip', overlap_policy: 'forbid', max_retries: 1, retry_backoff: '2s',
    })
  })
})
