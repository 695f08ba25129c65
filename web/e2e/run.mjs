// End-to-end test of the console: the real `sluice server` (built with the
// console embedded), two throwaway MariaDB servers, and headless Chromium
// driven by playwright-core. It logs in, adds two data sources, creates a
// pipeline, watches rows arrive and lag drop while it writes to the source,
// runs a check and reads its report (and a repair), creates a job and sees
// it fire, and saves a screenshot of every page in English and Chinese.
//
// Usage: node e2e/run.mjs --sluice BIN --servers BIN   (scripts/web-test.sh)
// Exit status 0 only when every step passed. A missing Chromium or mariadbd
// is a failure, never a skip.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { existsSync, mkdirSync, mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const here = dirname(fileURLToPath(import.meta.url))
const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) => (v.startsWith('--') ? [...a, [v.slice(2), all[i + 1]]] : a), []))
const sluiceBin = args.sluice
const serversBin = args.servers
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium'
const shots = join(here, 'screenshots')
const adminPassword = 'e2e-admin-password'
const timeout = Number(process.env.E2E_STEP_TIMEOUT_MS ?? 120_000)

let passed = 0
let failed = 0
const cleanups = []
let page

function fail(msg) {
  throw new Error(msg)
}

async function step(name, fn) {
  const t0 = Date.now()
  try {
    await fn()
    passed++
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`)
  } catch (e) {
    failed++
    console.log(`FAIL ${name}: ${e.stack ?? e}`)
    if (page) await page.screenshot({ path: join(shots, 'failure.png'), fullPage: true }).catch(() => {})
    throw e
  }
}

/** waitFor polls fn until it returns a truthy value, failing after the step timeout with what it waited for. */
async function waitFor(what, fn, ms = timeout) {
  const end = Date.now() + ms
  let last
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > end) fail(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })
}

/** startServers runs the Go helper that owns the two MariaDB servers; sql() sends it statements. */
async function startServers() {
  const p = spawn(serversBin, [], { stdio: ['pipe', 'pipe', 'inherit'] })
  cleanups.push(() => new Promise((r) => {
    p.once('exit', r)
    p.stdin.end()
    setTimeout(() => p.kill('SIGTERM'), 10_000).unref()
  }))
  const lines = createInterface({ input: p.stdout })
  const queue = []
  const waiting = []
  let exited = null
  lines.on('line', (l) => (waiting.length ? waiting.shift().resolve(l) : queue.push(l)))
  p.once('exit', (code) => {
    exited = new Error(`e2e servers exited with ${code} (is mariadbd installed?)`)
    while (waiting.length) waiting.shift().reject(exited)
  })
  const next = () => new Promise((resolve, reject) => {
    if (queue.length) return resolve(queue.shift())
    if (exited) return reject(exited)
    waiting.push({ resolve, reject })
  })
  const info = JSON.parse(await next())
  let id = 0
  const sql = async (server, q, session) => {
    const req = { id: ++id, server, sql: q, session }
    p.stdin.write(JSON.stringify(req) + '\n')
    const a = JSON.parse(await next())
    if (a.error) fail(`${server}: ${q}: ${a.error}`)
    return a
  }
  return { info, sql }
}

async function startSluice(dataDir, port) {
  const log = join(dataDir, 'server.log')
  const out = []
  const p = spawn(sluiceBin, ['server', '--data', dataDir, '--listen', `127.0.0.1:${port}`, '--admin-password', adminPassword, '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  p.stdout.on('data', (d) => out.push(d))
  p.stderr.on('data', (d) => out.push(d))
  cleanups.push(() => new Promise((r) => {
    if (p.exitCode !== null) return r()
    p.once('exit', r)
    p.kill('SIGTERM')
    setTimeout(() => p.kill('SIGKILL'), 15_000).unref()
  }))
  const base = `http://127.0.0.1:${port}`
  await waitFor('sluice server /healthz', async () => {
    if (p.exitCode !== null) fail(`sluice server exited with ${p.exitCode}:\n${Buffer.concat(out).toString()}`)
    const r = await fetch(`${base}/healthz`)
    return r.ok
  }, 60_000)
  return { base, log: () => Buffer.concat(out).toString(), logFile: log }
}

// ---- page helpers ----------------------------------------------------------

const visible = (sel) => page.locator(sel).filter({ visible: true })

/** pick opens an Element Plus select and clicks the option whose text matches. */
async function pick(selectSel, optionText) {
  const open = () => page.locator('.el-select-dropdown').filter({ visible: true })
  await waitFor('no select dropdown open', async () => (await open().count()) === 0, 10_000)
  await page.locator(selectSel).first().click()
  await open().first().waitFor()
  await open().locator('.el-select-dropdown__item').filter({ hasText: optionText }).first().click()
  await waitFor('the select dropdown to close', async () => (await open().count()) === 0, 10_000)
}

/** pickMany opens a multiple Element Plus select, clicks each option, and closes it. */
async function pickMany(selectSel, optionTexts) {
  const open = () => page.locator('.el-select-dropdown').filter({ visible: true })
  await page.locator(selectSel).first().click()
  await open().first().waitFor()
  for (const o of optionTexts) await open().locator('.el-select-dropdown__item').filter({ hasText: o }).first().click()
  await page.keyboard.press('Escape')
  await waitFor('the select dropdown to close', async () => (await open().count()) === 0, 10_000)
}

async function shot(name) {
  await page.waitForLoadState('networkidle').catch(() => {})
  // Let ECharts and transitions settle before the picture.
  await page.waitForTimeout(400)
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true })
}

async function api(path, init = {}) {
  return page.evaluate(async ([path, init]) => {
    const csrf = document.cookie.split('; ').find((c) => c.startsWith('sluice_csrf='))?.split('=')[1]
    const r = await fetch(path, { ...init, headers: { 'Content-Type': 'application/json', ...(csrf ? { 'X-CSRF-Token': decodeURIComponent(csrf) } : {}) } })
    const text = await r.text()
    return { status: r.status, body: text ? (r.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) : null }
  }, [path, init])
}

async function confirmBox() {
  const box = page.locator('.el-message-box').filter({ visible: true })
  await box.waitFor()
  await box.locator('.el-message-box__btns button').last().click()
}

async function go(path) {
  await page.goto(base + path)
  await page.locator('.page').first().waitFor()
}

async function noErrorToast() {
  const err = page.locator('.el-message--error').filter({ visible: true })
  if (await err.count()) fail(`error message shown: ${await err.first().innerText()}`)
}

// ---- the test --------------------------------------------------------------

let base
async function main() {
  if (!sluiceBin || !serversBin) fail('usage: node e2e/run.mjs --sluice BIN --servers BIN')
  if (!existsSync(chromiumPath)) fail(`chromium not found at ${chromiumPath}: install it (apt-get install chromium, or ./scripts/deps.sh)`)
  for (const b of [sluiceBin, serversBin]) if (!existsSync(b)) fail(`${b} not found`)
  rmSync(shots, { recursive: true, force: true })
  mkdirSync(shots, { recursive: true })
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-e2e-'))
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }))

  const { info, sql } = await startServers()
  const sluice = await startSluice(dataDir, await freePort())
  base = sluice.base
  cleanups.push(() => {
    writeFileSync(join(shots, 'server.log'), sluice.log())
  })

  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  })
  cleanups.push(() => browser.close())
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US', timezoneId: 'UTC', acceptDownloads: true })
  context.setDefaultTimeout(30_000)
  page = await context.newPage()
  const pageErrors = []
  page.on('pageerror', (e) => pageErrors.push(e.message))

  // Source data: a table with rows before the pipeline starts (the initial
  // copy) and rows written while it runs (the stream).
  await sql('source', 'CREATE DATABASE shop')
  await sql('source', 'CREATE TABLE shop.orders (id INT PRIMARY KEY AUTO_INCREMENT, item VARCHAR(64) NOT NULL, qty INT NOT NULL, note TEXT)')
  await sql('source', 'CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(64))')
  await sql('source', "INSERT INTO shop.customers VALUES (1,'Ada'),(2,'Grace')")
  for (let i = 0; i < 5; i++) {
    await sql('source', `INSERT INTO shop.orders (item, qty, note) SELECT CONCAT('item-', seq), seq % 7, REPEAT('x', seq % 40) FROM shop.seq_1_to_40`)
  }

  await step('login page redirects and signs in', async () => {
    await page.goto(base + '/pipelines')
    await page.waitForURL(/\/login\?next=/)
    await shot('en-01-login')
    await page.fill('input[name=username]', 'admin')
    await page.fill('input[name=password]', 'wrong-password')
    await page.click('[data-test=login-submit]')
    await page.locator('[data-test=login-error]').waitFor()
    await page.fill('input[name=password]', adminPassword)
    await page.click('[data-test=login-submit]')
    await page.waitForURL(base + '/pipelines')
  })

  await step('empty dashboard', async () => {
    await go('/')
    await page.getByText('No pipelines yet').waitFor()
    await shot('en-02-dashboard-empty')
  })

  for (const [name, srv] of [['src', info.source], ['dst', info.target]]) {
    await step(`add data source ${name} with a connection test`, async () => {
      await go('/data-sources')
      await page.click('[data-test=ds-new]')
      const dlg = visible('[data-test=ds-dialog]')
      await dlg.waitFor()
      await page.fill('input[name=ds-name]', name)
      await page.fill('input[name=ds-host]', srv.host)
      await page.fill('input[name=ds-port]', String(srv.port))
      await page.fill('input[name=ds-user]', srv.user)
      await page.fill('input[name=ds-password]', srv.password)
      await page.click('[data-test=ds-test]')
      await page.locator('[data-test=ds-test-ok]').waitFor()
      const text = await page.locator('[data-test=ds-test-ok]').innerText()
      if (!/MariaDB/.test(text)) fail(`connection test does not name the server: ${text}`)
      if (name === 'src') await shot('en-03-data-source-test')
      await page.click('[data-test=ds-save]')
      await page.locator('[data-test=ds-table]').getByText(name, { exact: true }).waitFor()
      await noErrorToast()
    })
  }

  await step('data source form validates', async () => {
    await page.click('[data-test=ds-new]')
    await page.fill('input[name=ds-name]', 'bad name!')
    await page.click('[data-test=ds-save]')
    await visible('.el-form-item__error').first().waitFor()
    await shot('en-04-data-source-validation')
    await page.keyboard.press('Escape')
    await shot('en-05-data-sources')
  })

  await step('deleting a data source asks first', async () => {
    await page.click('[data-test=ds-new]')
    await page.fill('input[name=ds-name]', 'scratch')
    await page.fill('input[name=ds-host]', '127.0.0.1')
    await page.fill('input[name=ds-port]', '1')
    await page.click('[data-test=ds-save]')
    const row = page.locator('[data-test=ds-table] .el-table__row').filter({ hasText: 'scratch' })
    await row.waitFor()
    await row.locator('[data-test=ds-delete]').click()
    await page.locator('.el-message-box').filter({ visible: true }).waitFor()
    await shot('en-06-data-source-delete')
    await confirmBox()
    await row.waitFor({ state: 'detached' })
  })

  await step('pipeline wizard previews the selected tables and creates the pipeline', async () => {
    await go('/pipelines/new')
    await page.fill('input[name=pipeline-name]', 'shop-sync')
    await pick('[data-test=wizard-source]', /^src \(/)
    await pick('[data-test=wizard-target]', /^dst \(/)
    await shot('en-07-wizard-basics')
    await page.click('[data-test=wizard-next]')
    await page.locator('[data-test=source-tables]').getByText('shop.orders').waitFor()
    await page.fill('input[data-test=rule-source-0]', 'shop.*')
    await waitFor('preview of 2 tables', async () => /2 table/.test(await page.locator('[data-test=preview-count]').innerText()))
    await page.locator('[data-test=preview-table]').getByText('shop.customers').first().waitFor()
    await shot('en-08-wizard-tables')
    await page.click('[data-test=wizard-next]')
    await shot('en-09-wizard-columns')
    await page.click('[data-test=wizard-next]')
    // The source's whole binlog is kept, so reading it from the start brings
    // the tables and their rows that existed before the pipeline.
    await page.fill('input[name=wizard-from]', 'start')
    await shot('en-10-wizard-options')
    await page.click('[data-test=wizard-next]')
    const json = JSON.parse(await page.locator('[data-test=wizard-json]').innerText())
    if (json.config.tables[0].source !== 'shop.*' || json.source !== 'src' || json.target !== 'dst' || json.config.from !== 'start') fail(`review shows ${JSON.stringify(json)}`)
    await shot('en-11-wizard-review')
    await page.click('[data-test=wizard-submit]')
    await page.waitForURL(base + '/pipelines/shop-sync')
    await noErrorToast()
  })

  await step('the pipeline runs and brings the rows written before it (binlog read from the start)', async () => {
    await waitFor('state running', async () => (await page.locator('[data-test=pipeline-state]').getAttribute('data-state')) === 'running')
    await waitFor('200 rows in the target', async () => {
      const a = await sql('target', 'SELECT COUNT(*) FROM shop.orders').catch(() => null)
      return a && a.rows[0][0] === '200'
    })
  })

  await step('rows written to the source arrive; lag rises while the target is blocked, then drops', async () => {
    const lag = async () => {
      const st = await api('/api/v1/pipelines/shop-sync/status')
      if (st.status !== 200) fail(`status: ${JSON.stringify(st)}`)
      return st.body
    }
    // A write lock on the target table holds the applier back, as a slow
    // target would: the changes pile up and the lag grows.
    await sql('target', 'LOCK TABLES shop.orders WRITE', 'hold')
    let peak = 0
    for (let i = 0; i < 12; i++) {
      await sql('source', `INSERT INTO shop.orders (item, qty) SELECT CONCAT('live-${i}-', seq), seq FROM shop.seq_1_to_25`)
      await sql('source', `UPDATE shop.orders SET qty = qty + 1 WHERE id % 10 = ${i % 10}`)
      peak = Math.max(peak, (await lag()).lag_seconds)
      await page.waitForTimeout(250)
    }
    await waitFor('lag above 3 s while the target is locked', async () => (peak = Math.max(peak, (await lag()).lag_seconds)) > 3)
    await waitFor('the page to show the lag', async () => /\d\s?s$/.test((await page.locator('[data-test=stat-lag]').innerText()).trim()))
    await shot('en-12-pipeline-lagging')
    await sql('target', 'UNLOCK TABLES', 'hold')

    await waitFor('500 rows in the target', async () => (await sql('target', 'SELECT COUNT(*) FROM shop.orders')).rows[0][0] === '500')
    const src = (await sql('source', 'SELECT SUM(qty), SUM(CRC32(item)) FROM shop.orders')).rows[0]
    await waitFor('target sums equal to the source', async () => JSON.stringify((await sql('target', 'SELECT SUM(qty), SUM(CRC32(item)) FROM shop.orders')).rows[0]) === JSON.stringify(src))
    const low = await waitFor('lag under 1 s', async () => {
      const st = await lag()
      return st.lag_seconds < 1 ? st : null
    })
    await waitFor('rows applied on the page', async () => Number((await page.locator('[data-test=stat-rows]').innerText()).replace(/,/g, '')) >= 500)
    const canvases = await page.locator('.chart canvas').count()
    if (canvases < 2) fail(`expected the lag and throughput charts, found ${canvases} canvases`)
    console.log(`     lag rose to ${peak.toFixed(1)} s while the target was locked, then fell to ${low.lag_seconds.toFixed(2)} s; ${low.rows_applied} rows applied`)
    await page.waitForTimeout(2500) // a few more live samples for the charts
    await shot('en-13-pipeline-detail')
  })

  await step('dashboard and pipelines list show the pipeline live', async () => {
    await go('/')
    await page.locator('[data-test=dashboard-pipelines]').getByText('shop-sync').waitFor()
    await waitFor('live stream connected', async () => /Live/.test(await page.locator('[data-test=live]').innerText()))
    await shot('en-14-dashboard')
    await go('/pipelines')
    await page.locator('[data-test=pipelines-table]').getByText('shop-sync').waitFor()
    await shot('en-15-pipelines')
  })

  await step('topology view draws the pipeline; a channel groups it', async () => {
    await go('/channels')
    await page.locator('[data-test=topology] canvas').first().waitFor()
    await shot('en-16-topology')
    await page.click('[data-test=channel-new]')
    await page.fill('input[name=channel-name]', 'dc-pair')
    await pickMany('[data-test=channel-sites]', [/^src$/, /^dst$/])
    await pickMany('[data-test=channel-pipelines]', ['shop-sync'])
    await page.click('[data-test=channel-save]')
    await page.locator('[data-test=channels-table]').getByText('dc-pair').waitFor()
    await noErrorToast()
    await pick('[data-test=channel-select]', /^dc-pair$/)
    const topo = await api('/api/v1/channels/dc-pair/topology')
    if (topo.status !== 200 || topo.body.edges?.[0]?.pipeline !== 'shop-sync') fail(`channel topology: ${JSON.stringify(topo)}`)
    await page.locator('[data-test=topology] canvas').first().waitFor()
    await shot('en-16-topology-channel')
  })

  let firstCheck
  await step('a check of the pipeline finds source and target equal', async () => {
    await go('/checks')
    await page.click('[data-test=check-new]')
    await visible('[data-test=check-dialog]').waitFor()
    await pick('[data-test=check-pipeline]', 'shop-sync')
    await page.fill('input[data-test=check-tables]', 'shop.*')
    await page.click('[data-test=check-submit]')
    await page.waitForURL(/\/checks\/\d+$/)
    firstCheck = Number(page.url().split('/').pop())
    await waitFor('check finished', async () => (await page.locator('[data-test=check-status]').getAttribute('data-status')) !== 'running')
    const status = await page.locator('[data-test=check-status]').getAttribute('data-status')
    if (status !== 'equal') fail(`check #${firstCheck} is ${status}, want equal`)
    await page.locator('[data-test=check-tables-report]').getByText('shop.orders').first().waitFor()
    await shot('en-17-check-equal')
  })

  let diffCheck
  await step('a check after changing the target reports the differing rows', async () => {
    await sql('target', 'DELETE FROM shop.orders WHERE id = 3')
    await sql('target', 'UPDATE shop.orders SET qty = 999 WHERE id = 4')
    await sql('target', "INSERT INTO shop.customers VALUES (99, 'extra')")
    await go('/checks')
    await page.click('[data-test=check-new]')
    await pick('[data-test=check-pipeline]', 'shop-sync')
    await page.fill('input[data-test=check-tables]', 'shop.*')
    await page.click('[data-test=check-submit]')
    await page.waitForURL((u) => /\/checks\/\d+$/.test(u.pathname) && Number(u.pathname.split('/').pop()) !== firstCheck)
    diffCheck = Number(page.url().split('/').pop())
    await waitFor('check finished', async () => (await page.locator('[data-test=check-status]').getAttribute('data-status')) !== 'running')
    const status = await page.locator('[data-test=check-status]').getAttribute('data-status')
    if (status !== 'different') fail(`check #${diffCheck} is ${status}, want different`)
    const rows = await page.locator('[data-test=differences] .el-table__body tr.el-table__row').count()
    if (rows !== 3) fail(`differences table has ${rows} rows, want 3 (missing, different, extra)`)
    await page.locator('[data-test=differences] .el-table__expand-icon').first().click()
    await page.getByText('missing in target').first().waitFor()
    await shot('en-18-check-different')
    const sqlText = await api(`/api/v1/checks/${diffCheck}/repair.sql`)
    if (sqlText.status !== 200 || !/shop/.test(String(sqlText.body))) fail(`repair SQL: ${JSON.stringify(sqlText).slice(0, 300)}`)
    await page.locator('[data-test=repair-download]').waitFor()
  })

  await step('applying the repair restores the target', async () => {
    await page.click('[data-test=repair-apply]')
    await confirmBox()
    await page.waitForURL((u) => /\/checks\/\d+$/.test(u.pathname) && Number(u.pathname.split('/').pop()) !== diffCheck)
    await waitFor('repair finished', async () => (await page.locator('[data-test=check-status]').getAttribute('data-status')) !== 'running')
    await waitFor('row 3 back in the target', async () => (await sql('target', 'SELECT qty FROM shop.orders WHERE id IN (3, 4) ORDER BY id')).rows.length === 2)
    const q = (await sql('target', 'SELECT qty FROM shop.orders WHERE id = 4')).rows[0][0]
    const want = (await sql('source', 'SELECT qty FROM shop.orders WHERE id = 4')).rows[0][0]
    if (q !== want) fail(`row 4 qty ${q}, want the source's ${want}`)
    const extra = (await sql('target', 'SELECT COUNT(*) FROM shop.customers WHERE id = 99')).rows[0][0]
    if (extra !== '0') fail('the extra target row was not deleted')
    await shot('en-19-check-repair')
    await go('/checks')
    await shot('en-20-checks')
  })

  await step('a pipeline paused on an error shows it, and skipping the transaction resumes it', async () => {
    // The target's column is too short for the next source row: a permanent
    // error, so the pipeline pauses at that transaction.
    await sql('target', 'ALTER TABLE shop.customers MODIFY name VARCHAR(5)')
    await sql('source', "INSERT INTO shop.customers VALUES (3, 'Margaret')")
    await go('/pipelines/shop-sync')
    await waitFor('state paused', async () => (await page.locator('[data-test=pipeline-state]').getAttribute('data-state')) === 'paused')
    const err = await page.locator('[data-test=pipeline-error]').innerText()
    if (!/shop\.customers/.test(err)) fail(`the error does not name the table: ${err}`)
    await shot('en-21-pipeline-paused')
    await go('/')
    await page.locator('[data-test=dashboard-pipelines] .row-paused').waitFor()
    await shot('en-22-dashboard-paused')
    await go('/pipelines/shop-sync')
    await page.click('[data-test=pipeline-skip]')
    const gtid = await page.inputValue('input[name=skip-gtid]')
    if (!/^\d+-\d+-\d+$/.test(gtid)) fail(`the skip form is not prefilled with the failing GTID: ${JSON.stringify(gtid)} from ${err}`)
    await shot('en-23-pipeline-skip')
    await page.click('[data-test=skip-submit]')
    await confirmBox()
    await waitFor('state running after the skip', async () => (await page.locator('[data-test=pipeline-state]').getAttribute('data-state')) === 'running')
    const st = await api('/api/v1/pipelines/shop-sync/status')
    if (st.body.txns_skipped !== 1) fail(`txns_skipped ${st.body.txns_skipped}, want 1`)
    const n = (await sql('target', 'SELECT COUNT(*) FROM shop.customers WHERE id = 3')).rows[0][0]
    if (n !== '0') fail('the skipped row reached the target')
    const p = await api('/api/v1/pipelines/shop-sync')
    if (!p.body.config.skip?.some((r) => r.gtid === gtid)) fail(`the skip rule is not in the config: ${JSON.stringify(p.body.config.skip)}`)
  })

  let jobURL
  await step('a job with a next-fires preview fires on schedule', async () => {
    await go('/jobs')
    await page.click('[data-test=job-new]')
    await visible('[data-test=job-dialog]').waitFor()
    await page.fill('input[name=job-name]', 'count-orders')
    await page.fill('input[name=job-schedule]', '61 * * * *')
    await page.locator('[data-test=job-preview-error]').waitFor()
    await page.fill('input[name=job-schedule]', '*/2 * * * * *')
    await waitFor('5 next fires', async () => (await page.locator('[data-test=job-preview] li').count()) === 5)
    await page.locator('[data-test=job-kind] label, [data-test=job-kind] .el-radio-button').nth(1).click()
    await pick('[data-test=job-sql-ds]', /^src$/)
    await page.fill('textarea[name=job-sql]', 'SELECT COUNT(*) AS orders FROM shop.orders')
    await page.keyboard.press('Tab')
    await shot('en-24-job-form')
    await page.click('[data-test=job-save]')
    await page.waitForURL(/\/jobs\/\d+$/)
    jobURL = page.url()
    await page.locator('[data-test=job-runs] [data-status=succeeded]').first().waitFor({ timeout })
    await page.locator('[data-test=job-runs] .el-table__row').filter({ has: page.locator('[data-status=succeeded]') }).first().click()
    await visible('[data-test=run-drawer]').waitFor()
    await waitFor('run output', async () => (await page.locator('[data-test=run-output]').innerText()).includes('500'))
    await shot('en-25-job-run')
    await page.keyboard.press('Escape')
    await go('/jobs')
    await page.locator('[data-test=jobs-table]').getByText('count-orders').waitFor()
    await shot('en-26-jobs')
  })

  await step('an admin adds an operator; account and alerts pages', async () => {
    await go('/users')
    await page.click('[data-test=user-new]')
    await page.fill('input[name=user-username]', 'ops')
    await page.fill('input[name=user-password]', 'operator-password')
    await page.click('[data-role=operator]')
    await page.click('[data-test=user-save]')
    await page.locator('[data-test=users-table]').getByText('ops', { exact: true }).waitFor()
    await noErrorToast()
    await shot('en-27-users')
    await go('/account')
    await page.click('[data-test=token-new]')
    await page.fill('input[name=token-name]', 'ci')
    await page.click('[data-test=token-create]')
    const secret = await page.inputValue('input[data-test=token-secret]')
    if (!secret.startsWith('slc_')) fail(`token secret ${JSON.stringify(secret)}`)
    await shot('en-28-account-token')
    await page.click('[data-test=token-close]')
    await page.locator('[data-test=tokens-table]').getByText('ci', { exact: true }).waitFor()
    const me = await fetch(base + '/api/v1/me', { headers: { Authorization: `Bearer ${secret}` } })
    if (me.status !== 200 || (await me.json()).auth !== 'token') fail(`the new token does not authenticate: ${me.status}`)
    await shot('en-28-account')
    await go('/alerts')
    await page.fill('input[name=alert-lag]', '30')
    await page.click('[data-test=alerts-save]')
    await page.locator('.el-message--success').filter({ visible: true }).first().waitFor()
    const settings = await api('/api/v1/alerts/settings')
    if (settings.body.lag_seconds !== 30) fail(`alert settings: ${JSON.stringify(settings.body)}`)
    await shot('en-29-alerts')
  })

  await step('every page renders in Chinese', async () => {
    await go('/')
    await page.click('[data-lang=zh]')
    await page.getByText('总览').first().waitFor()
    await shot('zh-01-dashboard')
    const pages = [
      ['/data-sources', 'zh-02-data-sources', '数据源'],
      ['/pipelines', 'zh-03-pipelines', '管道'],
      ['/pipelines/shop-sync', 'zh-04-pipeline-detail', '延迟'],
      ['/pipelines/new', 'zh-05-wizard', '源与目标'],
      ['/channels', 'zh-06-topology', '拓扑图'],
      ['/checks', 'zh-07-checks', '校验'],
      [`/checks/${diffCheck}`, 'zh-08-check-report', '差异行'],
      ['/jobs', 'zh-09-jobs', '作业'],
      [new URL(jobURL).pathname, 'zh-10-job-detail', '执行记录'],
      ['/users', 'zh-11-users', '用户'],
      ['/account', 'zh-12-account', '修改密码'],
      ['/alerts', 'zh-13-alerts', '告警'],
    ]
    for (const [path, name, text] of pages) {
      await go(path)
      await page.getByText(text).first().waitFor()
      await shot(name)
    }
  })

  await step('stopping the pipeline asks first; log out', async () => {
    await go('/pipelines/shop-sync')
    await page.click('[data-test=pipeline-stop]')
    await confirmBox()
    await waitFor('state stopped', async () => (await page.locator('[data-test=pipeline-state]').getAttribute('data-state')) === 'stopped')
    await page.click('[data-test=user-menu]')
    await visible('[data-test=logout]').click()
    await page.waitForURL(/\/login/)
    await shot('zh-14-login')
    const r = await api('/api/v1/me')
    if (r.status !== 401) fail(`after logout /api/v1/me is ${r.status}`)
  })

  await step('an operator sees no admin actions', async () => {
    await page.fill('input[name=username]', 'ops')
    await page.fill('input[name=password]', 'operator-password')
    await page.click('[data-test=login-submit]')
    await page.waitForURL((u) => !u.pathname.startsWith('/login'))
    await go('/data-sources')
    await page.locator('[data-test=ds-table]').getByText('src', { exact: true }).waitFor()
    if (await page.locator('[data-test=ds-new]').count()) fail('an operator sees the new data source button')
    if (await page.locator('[data-nav="/users"]').count()) fail('an operator sees the users page in the menu')
    await page.goto(base + '/users')
    await page.waitForURL(base + '/')
    const r = await api('/api/v1/users')
    if (r.status !== 403) fail(`an operator listing users got ${r.status}`)
    await shot('zh-15-operator')
  })

  await step('no uncaught errors in the pages', async () => {
    if (pageErrors.length) fail(pageErrors.join('\n'))
  })
}

let code = 0
try {
  await main()
} catch (e) {
  if (!failed) {
    failed++
    console.log(`FAIL setup: ${e.stack ?? e}`)
  }
  code = 1
} finally {
  for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch((e) => console.log(`cleanup: ${e.message}`))
}
console.log(`screenshots in ${shots}`)
console.log(`e2e: ${passed} passed, ${failed} failed`)
process.exit(code)
