import { describe, expect, it } from 'vitest'
import type { Pipeline } from '@/api/types'
import { emptyRule, emptyWizard, fromPipeline, matches, toInput } from './wizard'

describe('toInput', () => {
  it('sends a minimal config for the defaults', () => {
    const f = emptyWizard()
    Object.assign(f, { name: ' shop-sync ', source: 'a', target: 'b' })
    f.rules = [emptyRule('shop.*'), emptyRule('  ')]
    expect(toInput(f)).toEqual({
      name: 'shop-sync',
      source: 'a',
      target: 'b',
      config: { tables: [{ source: 'shop.*' }], snapshot: 'auto', ddl: 'replicate' },
    })
  })

  it('carries targets, column lists, renames and options', () => {
    const f = emptyWizard()
    Object.assign(f, { name: 'p', source: 'a', target: 'b', channel: 'dc', exclude: 'shop.tmp_*, shop.log', from: 'now', ops: ['insert', 'update'], ddl: 'skip', workers: 8, heartbeat: '10s', alert_lag_seconds: 30, alert_lag_for: '2m' })
    f.rules = [{ source: 'shop.orders', target: 'copy.orders', columns: ['id', 'total'], exclude_columns: [], renames: [{ from: 'total', to: 'amount' }, { from: '', to: 'x' }] }]
    expect(toInput(f)).toEqual({
      name: 'p',
      source: 'a',
      target: 'b',
      channel: 'dc',
      alert_lag_seconds: 30,
      alert_lag_for: '2m',
      config: {
        tables: [{ source: 'shop.orders', target: 'copy.orders', columns: ['id', 'total'], rename_columns: { total: 'amount' } }],
        exclude: ['shop.tmp_*', 'shop.log'],
        from: 'now',
        snapshot: 'auto',
        ops: ['insert', 'update'],
        ddl: 'skip',
        apply: { workers: 8 },
        heartbeat: '10s',
      },
    })
  })

  it('keeps config keys the wizard does not edit when editing', () => {
    const p: Pipeline = {
      name: 'p', source: 'a', target: 'b', desired_state: 'stopped', created_at: '', updated_at: '',
      status: { name: 'p', state: 'stopped', lag_seconds: 0, rows_per_second: 0, txns_per_second: 0, rows_applied: 0, txns_applied: 0 },
      config: { tables: [{ source: 'x.*' }], skip: [{ gtid: '0-1-5' }], state_schema: 'meta', server_id: 77, apply: { workers: 4, max_group_rows: 500 }, from: 'start' },
    }
    const f = fromPipeline(p)
    expect(f.workers).toBe(4)
    f.workers = 0
    f.from = ''
    const c = toInput(f, p.config).config
    expect(c.skip).toEqual([{ gtid: '0-1-5' }])
    expect(c.state_schema).toBe('meta')
    expect(c.server_id).toBe(77)
    expect(c.apply).toEqual({ max_group_rows: 500 })
    expect(c.from).toBeUndefined()
  })

  it('round-trips a pipeline through the form', () => {
    const config = { tables: [{ source: 'shop.*', target: 'copy.*', exclude_columns: ['secret'], rename_columns: { a: 'b' } }], exclude: ['shop.tmp'], snapshot: 'none' as const, ddl: 'replicate' as const, ops: ['insert' as const] }
    const p = { name: 'p', source: 'a', target: 'b', channel: 'c', config, desired_state: 'running', created_at: '', updated_at: '', status: {} } as unknown as Pipeline
    expect(toInput(fromPipeline(p), p.config)).toEqual({ name: 'p', source: 'a', target: 'b', channel: 'c', config })
  })
})

describe('matches', () => {
  it.each([
    ['shop.*', 'shop', 'orders', true],
    ['shop.*', 'shop2', 'orders', false],
    ['shop.order?', 'shop', 'orders', true],
    ['shop.order?', 'shop', 'order', false],
    ['*.users', 'crm', 'users', true],
    ['shop.orders', 'shop', 'orders', true],
    ['shop.orders', 'shop', 'ordersX', false],
    ['shop_a.t', 'shopXa', 't', false],
    ['noschema', 'a', 'b', false],
  ])('%s matches %s.%s: %s', (p, s, t, want) => expect(matches(p, s, t)).toBe(want))
})
