import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { baseCompile } from '@intlify/message-compiler'
import en from './en'
import zh from './zh'
import { initialLang } from './index'

type Tree = { [k: string]: string | Tree }

function keys(t: Tree, prefix = ''): string[] {
  return Object.entries(t).flatMap(([k, v]) => (typeof v === 'string' ? [prefix + k] : keys(v, `${prefix}${k}.`)))
}
function lookup(t: Tree, key: string): string | Tree | undefined {
  return key.split('.').reduce<string | Tree | undefined>((n, k) => (n && typeof n === 'object' ? n[k] : undefined), t)
}
function placeholders(s: string): string[] {
  return [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()
}
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    if (statSync(p).isDirectory()) return sources(p)
    return /\.(vue|ts)$/.test(f) && !f.endsWith('.test.ts') && !p.includes('/i18n/') ? [p] : []
  })
}

describe('messages', () => {
  const enKeys = keys(en as unknown as Tree).sort()
  const zhKeys = keys(zh as unknown as Tree).sort()

  it('both languages have exactly the same keys', () => {
    expect(zhKeys.filter((k) => !enKeys.includes(k))).toEqual([])
    expect(enKeys.filter((k) => !zhKeys.includes(k))).toEqual([])
  })

  it('no message is empty, and each keeps its placeholders', () => {
    for (const k of enKeys) {
      const e = lookup(en as unknown as Tree, k) as string
      const z = lookup(zh as unknown as Tree, k) as string
      expect(e.trim(), k).not.toBe('')
      expect(z.trim(), k).not.toBe('')
      expect(placeholders(z), k).toEqual(placeholders(e))
    }
  })

  it('every message compiles (@, | and braces are vue-i18n syntax)', () => {
    const broken: string[] = []
    for (const [lang, tree] of [['en', en], ['zh', zh]] as const) {
      for (const k of enKeys) {
        const msg = lookup(tree as unknown as Tree, k) as string
        baseCompile(msg, { onError: (e) => broken.push(`${lang} ${k}: ${e.message}`) })
      }
    }
    expect(broken).toEqual([])
  })

  it('placeholders are only {name} forms', () => {
    for (const k of enKeys) expect(placeholders(lookup(en as unknown as Tree, k) as string).every((p) => /^\w+$/.test(p)), k).toBe(true)
  })

  it('the Chinese messages are translated (CJK text where English has words)', () => {
    // Product names, codes and units that read the same in both languages.
    const same = new Set(['app.name', 'ds.serverId', 'pipeline.checkpoint', 'pipeline.skipGTID', 'wizard.ddl', 'job.http.url', 'alerts.webhook'])
    const untranslated = enKeys.filter((k) => {
      const z = lookup(zh as unknown as Tree, k) as string
      return !same.has(k) && !/[\u4e00-\u9fff]/.test(z)
    })
    expect(untranslated).toEqual([])
  })

  it('every key the pages use exists', () => {
    const root = join(__dirname, '..')
    const used = new Set<string>()
    for (const f of sources(root)) {
      const text = readFileSync(f, 'utf8')
      for (const m of text.matchAll(/\bt\(\s*'([\w.]+)'/g)) used.add(m[1])
      for (const m of text.matchAll(/(?:label|title): '((?:nav|pipeline|common)\.[\w.]+)'/g)) used.add(m[1])
    }
    expect(used.size).toBeGreaterThan(100)
    const missing = [...used].filter((k) => typeof lookup(en as unknown as Tree, k) !== 'string')
    expect(missing).toEqual([])
  })
})

describe('initialLang', () => {
  it('keeps a stored choice, else follows the browser', () => {
    expect(initialLang('en', 'zh-CN')).toBe('en')
    expect(initialLang('zh', 'en-US')).toBe('zh')
    expect(initialLang(null, 'zh-CN')).toBe('zh')
    expect(initialLang(null, 'zh-TW')).toBe('zh')
    expect(initialLang(null, 'en-GB')).toBe('en')
    expect(initialLang('fr', undefined)).toBe('en')
  })
})
