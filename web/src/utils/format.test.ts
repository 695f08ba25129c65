import { describe, expect, it } from 'vitest'
import { ago, compact, count, dateTime, duration, errorPosition, hasLag, isGoDuration, lagLevel, position, rate, splitList } from './format'

describe('duration', () => {
  it.each([
    [0.25, 'en', '250 ms'],
    [0, 'en', '0 ms'],
    [4.2, 'en', '4.2 s'],
    [4, 'en', '4 s'],
    [42.4, 'en', '42 s'],
    [185, 'en', '3 min 5 s'],
    [180, 'en', '3 min'],
    [7800, 'en', '2 h 10 min'],
    [7200, 'en', '2 h'],
    [273600, 'en', '3 d 4 h'],
    [0.25, 'zh', '250毫秒'],
    [185, 'zh', '3分 5秒'],
    [-2, 'en', '-2 s'],
  ] as const)('%s s in %s is %s', (s, lang, want) => {
    expect(duration(s, lang)).toBe(want)
  })
  it('shows a dash for missing values', () => {
    expect(duration(undefined)).toBe('—')
    expect(duration(null)).toBe('—')
    expect(duration(NaN)).toBe('—')
  })
})

describe('numbers', () => {
  it('count groups thousands', () => {
    expect(count(1234567)).toBe('1,234,567')
    expect(count(0)).toBe('0')
    expect(count(undefined)).toBe('—')
  })
  it.each([
    [0, '0'],
    [2.5, '2.5'],
    [950, '950'],
    [1234, '1.2k'],
    [35000, '35k'],
    [4_500_000, '4.5M'],
    [2_000_000_000, '2G'],
  ])('compact(%s) = %s', (n, want) => expect(compact(n)).toBe(want))
  it('rate adds /s', () => {
    expect(rate(1500)).toBe('1.5k/s')
    expect(rate(undefined)).toBe('—')
  })
})

describe('position', () => {
  it('prefers file:pos with the GTID set beside it', () => {
    expect(position({ file: 'mysql-bin.000003', pos: 4 })).toBe('mysql-bin.000003:4')
    expect(position({ file: 'mysql-bin.000003', pos: 4, gtid: '0-1-42' })).toBe('mysql-bin.000003:4 (0-1-42)')
    expect(position({ gtid: '0-1-42' })).toBe('0-1-42')
    expect(position(undefined)).toBe('—')
    expect(position({})).toBe('—')
  })
})

describe('times', () => {
  it('dateTime renders in the given zone', () => {
    expect(dateTime('2026-05-04T14:03:09Z', 'UTC')).toBe('2026-05-04 14:03:09')
    expect(dateTime('2026-05-04T14:03:09Z', 'Asia/Shanghai')).toBe('2026-05-04 22:03:09')
    expect(dateTime('2026-05-04T23:30:00Z', 'Asia/Shanghai')).toBe('2026-05-05 07:30:00')
    expect(dateTime(null)).toBe('—')
    expect(dateTime('not a time')).toBe('not a time')
  })
  it('ago says how long before now', () => {
    const now = new Date('2026-05-04T14:00:00Z')
    expect(ago('2026-05-04T13:59:55Z', now)).toBe('5 s ago')
    expect(ago('2026-05-04T13:57:00Z', now, 'zh')).toBe('3分前')
    expect(ago('2026-05-04T14:00:10Z', now)).toBe('in 10 s')
    expect(ago('2026-05-04T14:00:00Z', now)).toBe('just now')
  })
})

describe('lagLevel', () => {
  it.each([
    [0.1, 'success'],
    [4.9, 'success'],
    [5, 'warning'],
    [59, 'warning'],
    [60, 'danger'],
    [undefined, 'info'],
  ] as const)('%s s is %s', (s, want) => expect(lagLevel(s)).toBe(want))
})

describe('errorPosition', () => {
  it.each([
    ['pipeline "p": apply at binlog.000001:1234 gtid=0-1-40 (txn 0-1-41), table shop.t, key id=2: Error 1264', { gtid: '0-1-41' }],
    ['pipeline "p": apply at binlog.000003:88 gtid=3E11FA47-71CA-11E1-9E33-C80AA9429562:1-22 (txn 3E11FA47-71CA-11E1-9E33-C80AA9429562:23): x', { gtid: '3E11FA47-71CA-11E1-9E33-C80AA9429562:23' }],
    ['pipeline "p": apply at mysql-bin.000003:1234, table shop.t: duplicate key', { position: 'mysql-bin.000003:1234' }],
    ['binlog.000012:98765: table shop.orders has no column x', { position: 'binlog.000012:98765' }],
    ['connection refused', {}],
  ] as [string, { gtid?: string; position?: string }][])('%s', (err, want) => {
    const got = errorPosition(err)
    expect(got.gtid).toBe(want.gtid)
    expect(got.position).toBe(want.position)
  })
})

describe('inputs', () => {
  it('splitList splits on commas and lines', () => {
    expect(splitList(' a, b\nc,, ')).toEqual(['a', 'b', 'c'])
    expect(splitList('')).toEqual([])
  })
  it.each([
    ['30s', true],
    ['1h30m', true],
    ['500ms', true],
    ['0', true],
    ['1.5h', true],
    ['30', false],
    ['abc', false],
    ['5 m', false],
  ])('isGoDuration(%s) = %s', (s, want) => expect(isGoDuration(s)).toBe(want))
})

describe('hasLag', () => {
  it.each([
    ['running', true],
    ['paused', true],
    ['retrying', true],
    ['stopped', false],
    ['pending', false],
    [undefined, false],
  ] as const)('%s: %s', (s, want) => expect(hasLag(s)).toBe(want))
})
