// The topology graph: sites (data sources) as nodes and pipelines as
// directed edges, as ECharts graph data. A channel's graph comes from the
// API; "all pipelines" is built here from the pipeline list.
import type { DataSource, Pipeline, PipelineState, Topology } from '@/api/types'

export const stateColor: Record<PipelineState, string> = {
  running: '#67c23a',
  paused: '#f56c6c',
  retrying: '#e6a23c',
  starting: '#e6a23c',
  pending: '#e6a23c',
  stopping: '#e6a23c',
  stopped: '#909399',
}

/** topologyOfPipelines is the graph of every pipeline, with the data sources they join. */
export function topologyOfPipelines(pipelines: Pipeline[], sources: DataSource[]): Topology {
  const hosts = new Map(sources.map((d) => [d.name, `${d.host}:${d.port}`]))
  const ids = new Set<string>()
  for (const p of pipelines) {
    ids.add(p.source)
    ids.add(p.target)
  }
  return {
    channel: '',
    topology: 'mesh',
    nodes: [...ids].sort().map((id) => ({ id, host: hosts.get(id) })),
    edges: pipelines.map((p) => ({
      pipeline: p.name,
      source: p.source,
      target: p.target,
      state: p.status?.state ?? 'stopped',
      lag_seconds: p.status?.lag_seconds,
      rows_per_second: p.status?.rows_per_second,
    })),
  }
}

/**
 * graphOption renders a topology as an ECharts graph: sites on a circle (the
 * hub of a star in the middle), each pipeline an arrow coloured by state and
 * labelled with its name and lag. Two pipelines between the same pair in
 * opposite directions curve apart so that both stay visible.
 */
export function graphOption(topo: Topology, lagText: (s: number | undefined) => string, hubLabel: string) {
  const n = topo.nodes.length
  const hub = topo.nodes.find((x) => x.hub)
  const ring = topo.nodes.filter((x) => x !== hub)
  const pos = new Map<string, [number, number]>()
  ring.forEach((x, i) => {
    // Start on the left so that two sites sit side by side.
    const a = (2 * Math.PI * i) / Math.max(ring.length, 1) + Math.PI
    pos.set(x.id, [300 + 220 * Math.cos(a), 220 + 160 * Math.sin(a)])
  })
  if (hub) pos.set(hub.id, [300, 220])
  const pairs = new Set(topo.edges.map((e) => `${e.source}\u0000${e.target}`))
  return {
    tooltip: {
      formatter: (p: { dataType: string; data: { name?: string; host?: string; pipeline?: string; state?: string; lag?: string } }) =>
        p.dataType === 'edge' ? `${p.data.pipeline}<br/>${p.data.state} · ${p.data.lag}` : `${p.data.name}<br/>${p.data.host ?? ''}`,
    },
    animation: false,
    series: [
      {
        type: 'graph',
        layout: 'none',
        roam: true,
        symbolSize: n > 8 ? 44 : 58,
        edgeSymbol: ['none', 'arrow'],
        edgeSymbolSize: 10,
        label: { show: true, fontSize: 12 },
        edgeLabel: { show: true, fontSize: 11, formatter: (p: { data: { label: string } }) => p.data.label },
        data: topo.nodes.map((x) => ({
          name: x.id,
          host: x.host,
          x: pos.get(x.id)![0],
          y: pos.get(x.id)![1],
          itemStyle: { color: x.hub ? '#1f6feb' : '#3a4a66' },
          label: { formatter: x.hub ? `${x.id}\n(${hubLabel})` : x.id, color: '#fff' },
        })),
        links: topo.edges.map((e) => ({
          source: e.source,
          target: e.target,
          pipeline: e.pipeline,
          state: e.state,
          lag: lagText(e.lag_seconds),
          label: `${e.pipeline} · ${e.state === 'running' ? lagText(e.lag_seconds) : e.state}`,
          lineStyle: {
            color: stateColor[e.state] ?? '#909399',
            width: 2.5,
            curveness: pairs.has(`${e.target}\u0000${e.source}`) ? 0.25 : 0,
            type: e.state === 'stopped' ? 'dashed' : 'solid',
          },
        })),
      },
    ],
  }
}
