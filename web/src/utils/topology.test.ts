import { describe, expect, it } from 'vitest'
import type { Pipeline, Topology } from '@/api/types'
import { graphOption, topologyOfPipelines } from './topology'

const p = (name: string, source: string, target: string, state = 'running', lag = 1): Pipeline =>
  ({ name, source, target, config: { tables: [] }, desired_state: 'running', created_at: '', updated_at: '',
    status: { name, state, lag_seconds: lag, rows_per_second: 10, txns_per_second: 1, rows_applied: 0, txns_applied: 0 } }) as Pipeline

describe('topology', () => {
  it('joins every pipeline\'s data sources once', () => {
    const t = topologyOfPipelines([p('ab', 'a', 'b'), p('ba', 'b', 'a', 'paused'), p('ac', 'a', 'c')], [
      { name: 'a', host: 'h1', port: 3306 } as never,
    ])
    expect(t.nodes.map((n) => n.id)).toEqual(['a', 'b', 'c'])
    expect(t.nodes[0].host).toBe('h1:3306')
    expect(t.edges.map((e) => [e.pipeline, e.state])).toEqual([['ab', 'running'], ['ba', 'paused'], ['ac', 'running']])
  })

  it('draws opposite pipelines curved apart and the hub in the middle', () => {
    const topo: Topology = {
      channel: 'c', topology: 'star',
      nodes: [{ id: 'hub', hub: true }, { id: 'x' }, { id: 'y' }],
      edges: [
        { pipeline: 'hx', source: 'hub', target: 'x', state: 'running', lag_seconds: 2 },
        { pipeline: 'xh', source: 'x', target: 'hub', state: 'paused' },
        { pipeline: 'hy', source: 'hub', target: 'y', state: 'stopped' },
      ],
    }
    const o = graphOption(topo, (s) => `${s ?? '-'}s`, 'hub')
    const s = o.series[0]
    expect(s.data.find((d) => d.name === 'hub')).toMatchObject({ x: 300, y: 220 })
    expect(s.links.map((l) => l.lineStyle.curveness)).toEqual([0.25, 0.25, 0])
    expect(s.links.map((l) => l.label)).toEqual(['hx · 2s', 'xh · paused', 'hy · stopped'])
    expect(s.links[1].lineStyle.color).toBe('#f56c6c')
    expect(s.links[2].lineStyle.type).toBe('dashed')
  })
})
