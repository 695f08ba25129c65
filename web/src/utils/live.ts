// Live updates over the server's Server-Sent Events stream
// (GET /api/v1/events). EventSource reconnects by itself; `connected` says
// whether the stream is up so that pages can say when it is not.
import { onBeforeUnmount, ref, type Ref } from 'vue'
import { api } from '@/api'
import type { StreamEvent, StreamEventType } from '@/api/types'

export function useLive(
  handlers: Partial<Record<StreamEventType, (e: StreamEvent) => void>>,
  pipelines: () => string[] = () => [],
): { connected: Ref<boolean>; close: () => void } {
  const connected = ref(false)
  let es: EventSource | null = null
  const open = () => {
    es = new EventSource(api.eventsURL(pipelines()), { withCredentials: true })
    es.onopen = () => (connected.value = true)
    es.onerror = () => (connected.value = false)
    for (const [type, fn] of Object.entries(handlers)) {
      es.addEventListener(type, (m) => {
        try {
          fn?.(JSON.parse((m as MessageEvent).data) as StreamEvent)
        } catch {
          // a malformed event is dropped; the next one carries the full state again
        }
      })
    }
  }
  const close = () => {
    es?.close()
    es = null
    connected.value = false
  }
  open()
  onBeforeUnmount(close)
  return { connected, close }
}

/** Series keeps the last `max` points of a live figure for a chart. */
export class Series {
  readonly points: [number, number][] = []
  constructor(readonly max = 300) {}
  push(time: number, value: number) {
    const last = this.points[this.points.length - 1]
    if (last && last[0] === time) last[1] = value
    else if (!last || time > last[0]) this.points.push([time, value])
    if (this.points.length > this.max) this.points.splice(0, this.points.length - this.max)
  }
}
