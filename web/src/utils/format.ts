// Formatting of the numbers, times and positions the console shows. Pure
// functions of their arguments (the locale included), tested in format.test.ts.
import type { Position } from '@/api/types'

export type Lang = 'en' | 'zh'

const units = {
  en: { ms: 'ms', s: 's', min: 'min', h: 'h', d: 'd' },
  zh: { ms: '毫秒', s: '秒', min: '分', h: '小时', d: '天' },
}

/** duration renders seconds as "850 ms", "4.2 s", "3 min 5 s", "2 h 10 min", "3 d 4 h". */
export function duration(seconds: number | null | undefined, lang: Lang = 'en'): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—'
  const u = units[lang]
  const sep = lang === 'zh' ? '' : ' '
  const neg = seconds < 0 ? '-' : ''
  let s = Math.abs(seconds)
  if (s < 1) return `${neg}${Math.round(s * 1000)}${sep}${u.ms}`
  if (s < 60) return `${neg}${s < 10 ? trim(s.toFixed(1)) : Math.round(s)}${sep}${u.s}`
  s = Math.round(s)
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  const part = (n: number, unit: string) => `${n}${sep}${unit}`
  if (d > 0) return neg + [part(d, u.d), h ? part(h, u.h) : ''].filter(Boolean).join(' ')
  if (h > 0) return neg + [part(h, u.h), m ? part(m, u.min) : ''].filter(Boolean).join(' ')
  return neg + [part(m, u.min), sec ? part(sec, u.s) : ''].filter(Boolean).join(' ')
}

function trim(s: string): string {
  return s.replace(/\.0$/, '')
}

/** count renders an integer with thousands separators: 1,234,567. */
export function count(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—'
  return Math.round(n).toLocaleString('en-US')
}

/** compact renders a rate or size briefly: 950, 1.2k, 35k, 4.5M. */
export function compact(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—'
  const a = Math.abs(n)
  if (a < 1000) return a < 10 && a % 1 !== 0 ? trim(n.toFixed(1)) : String(Math.round(n))
  if (a < 1e6) return trim((n / 1e3).toFixed(a < 1e4 ? 1 : 0)) + 'k'
  if (a < 1e9) return trim((n / 1e6).toFixed(a < 1e7 ? 1 : 0)) + 'M'
  return trim((n / 1e9).toFixed(1)) + 'G'
}

/** rate renders a per-second figure: "1.2k/s". */
export function rate(n: number | null | undefined): string {
  const c = compact(n)
  return c === '—' ? c : `${c}/s`
}

/** position renders a binlog position as FILE:POS, or the GTID set when there is one. */
export function position(p: Position | null | undefined): string {
  if (!p) return '—'
  const fp = p.file ? `${p.file}:${p.pos ?? 0}` : ''
  if (p.gtid && fp) return `${fp} (${p.gtid})`
  return p.gtid || fp || '—'
}

/** dateTime renders an RFC 3339 time in the browser's zone: 2026-05-04 14:03:09. */
export function dateTime(iso: string | null | undefined, zone?: string): string {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: zone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(d)
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? ''
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}:${get('second')}`
}

/** ago renders how long before now a time was: "5 s ago", "3 分前". */
export function ago(iso: string | null | undefined, now: Date, lang: Lang = 'en'): string {
  if (!iso) return '—'
  const t = new Date(iso).getTime()
  if (Number.isNaN(t)) return iso
  const s = (now.getTime() - t) / 1000
  if (s < 0) return lang === 'zh' ? `${duration(-s, lang)}后` : `in ${duration(-s, lang)}`
  if (s < 1) return lang === 'zh' ? '刚刚' : 'just now'
  return lang === 'zh' ? `${duration(s, lang)}前` : `${duration(s, lang)} ago`
}

/** hasLag reports whether a pipeline in this state has a meaningful lag: it reads or holds unapplied changes. */
export function hasLag(state: string | null | undefined): boolean {
  return state === 'running' || state === 'paused' || state === 'retrying' || state === 'starting' || state === 'stopping'
}

/** lagLevel grades a lag for colour: ok below 5 s, warning below 60 s, danger above. */
export function lagLevel(seconds: number | null | undefined): 'success' | 'warning' | 'danger' | 'info' {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return 'info'
  if (seconds < 5) return 'success'
  if (seconds < 60) return 'warning'
  return 'danger'
}

/**
 * errorPosition finds the failing transaction in a paused pipeline's error
 * text, to prefill the skip form. The applier writes `apply at FILE:POS
 * gtid=SET (txn GTID), table ..., key ...: reason`: the transaction's own
 * GTID is the one in "(txn ...)" (the gtid= after the position is the set
 * the source had, not this transaction), and FILE:POS is its end position,
 * used when the source has no GTIDs.
 */
export function errorPosition(err: string | null | undefined): { gtid?: string; position?: string } {
  if (!err) return {}
  const txn = err.match(/\(txn ([^)\s]+)\)/)
  if (txn) return { gtid: txn[1] }
  const pos = err.match(/\b([\w.-]+\.\d{6}):(\d+)\b/)
  if (pos) return { position: `${pos[1]}:${pos[2]}` }
  return {}
}

/** splitList turns "a, b\nc" into ["a","b","c"]. */
export function splitList(s: string | null | undefined): string[] {
  if (!s) return []
  return s
    .split(/[\n,]/)
    .map((x) => x.trim())
    .filter(Boolean)
}

/** namePattern is the API's rule for names of data sources, pipelines and channels. */
export const namePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/

/** goDuration reports whether s parses as a Go duration ("30s", "1h30m", "500ms"). */
export function isGoDuration(s: string): boolean {
  return /^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$/.test(s.trim())
}
