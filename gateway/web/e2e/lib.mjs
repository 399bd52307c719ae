// Shared by the browser tests and `bench board`: the real gateway (`gateway demo`, the debug
// binary unless GATEWAY_BIN says otherwise) on free ports — on PostgreSQL + Redis when
// APP_TEST_DATABASE_URL and APP_TEST_REDIS_URL are set (a fresh database and key prefix of its
// own, removed afterwards), else SQLite and the in-process store — and Debian's Chromium driven
// by playwright-core. Nothing here downloads anything.
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { chromium } from 'playwright-core'

export const HALL = 'HALL-0571-01'
export const repo = resolve(import.meta.dirname, '../../..')
/** Screenshots of every screen, kept by CI as artefacts. */
export const ARTIFACTS = process.env.WEB_ARTIFACTS ?? join(repo, 'target', 'web-artifacts')
mkdirSync(ARTIFACTS, { recursive: true })

function binary() {
  if (process.env.GATEWAY_BIN) return process.env.GATEWAY_BIN
  const target = process.env.CARGO_TARGET_DIR ?? join(repo, 'target')
  const bin = join(target, 'debug', 'gateway')
  if (!existsSync(bin)) throw new Error(`no gateway binary at ${bin}: cargo build -p gateway first`)
  return bin
}

export function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer()
    server.once('error', fail)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => ok(port))
    })
  })
}

/** Starts `gateway demo`; `restart()` stops it and starts it again on the same ports and data. */
export async function startGateway() {
  const ports = { port: await freePort(), admin: await freePort(), sim: await freePort(), province: await freePort() }
  const data = mkdtempSync(join(tmpdir(), 'zsb-web-'))
  const args = [
    'demo', '--data-dir', data, '--port', String(ports.port), '--admin-port', String(ports.admin),
    '--wechat-sim-port', String(ports.sim), '--province-sim-port', String(ports.province),
    // Browser tests and the benchmark log in and poll more than a citizen does.
    '--session-requests', '100000', '--session-window-secs', '60',
  ]
  const pgUrl = process.env.APP_TEST_DATABASE_URL
  const redisUrl = process.env.APP_TEST_REDIS_URL
  const name = `web_${randomBytes(6).toString('hex')}`
  let cleanup = () => {}
  if (pgUrl && redisUrl) {
    execFileSync('psql', [pgUrl, '-qc', `CREATE DATABASE ${name}`])
    const url = new URL(pgUrl)
    url.pathname = `/${name}`
    args.push('--database-url', url.toString(), '--redis-url', redisUrl, '--redis-key-prefix', `${name}:`)
    const redis = new URL(redisUrl)
    const cli = ['-h', redis.hostname, '-p', redis.port || '6379']
    cleanup = () => {
      const keys = execFileSync('redis-cli', [...cli, '--scan', '--pattern', `${name}:*`], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean)
      for (let i = 0; i < keys.length; i += 200) execFileSync('redis-cli', [...cli, 'del', ...keys.slice(i, i + 200)])
      execFileSync('psql', [pgUrl, '-qc', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`])
    }
  }
  let child = null
  let output = []
  const launch = async () => {
    output = []
    child = spawn(binary(), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' } })
    child.stdout.on('data', (c) => output.push(c))
    child.stderr.on('data', (c) => output.push(c))
    const started = Date.now()
    for (;;) {
      try {
        if ((await fetch(`http://127.0.0.1:${ports.admin}/readyz`)).ok) return
      } catch {
        // not listening yet
      }
      if (child.exitCode !== null || Date.now() - started > 90_000) {
        child.kill('SIGKILL')
        throw new Error(`gateway demo did not become ready:\n${Buffer.concat(output).toString()}`)
      }
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const halt = async () => {
    if (!child || child.exitCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGTERM')
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(killer)
  }
  await launch()
  const url = `http://127.0.0.1:${ports.port}`
  return {
    url,
    sim: `http://127.0.0.1:${ports.sim}`,
    province: `http://127.0.0.1:${ports.province}`,
    backend: pgUrl && redisUrl ? 'postgres+redis' : 'embedded',
    /** Runs one SQL statement on the gateway's database (a test's stand-in for time passing). */
    sql: (statement) => {
      if (pgUrl && redisUrl) {
        const url = new URL(pgUrl)
        url.pathname = `/${name}`
        return execFileSync('psql', [url.toString(), '-qtAc', statement], { encoding: 'utf8' })
      }
      return execFileSync('sqlite3', ['-cmd', '.timeout 5000', join(data, 'demo.sqlite'), statement], { encoding: 'utf8' })
    },
    log: () => Buffer.concat(output).toString(),
    restart: async () => {
      await halt()
      await launch()
    },
    stop: async () => {
      await halt()
      cleanup()
      rmSync(data, { recursive: true, force: true })
    },
  }
}

/** Debian's Chromium, headless. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  })
}

/** JSON over HTTP with an optional bearer token; throws with the error body on a non-2xx. */
export async function api(base, method, path, { token, body, text } = {}) {
  const headers = {}
  if (token) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (text !== undefined) headers['content-type'] = 'text/plain; charset=utf-8'
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body !== undefined ? JSON.stringify(body) : text,
  })
  const raw = await res.text()
  const json = raw ? JSON.parse(raw) : null
  if (!res.ok) {
    const e = new Error(`${method} ${path}: ${res.status} ${raw}`)
    e.status = res.status
    e.body = json
    throw e
  }
  return json
}

export const ADMIN = { username: 'admin', password: 'demo-admin-password' }

export async function staffToken(gw, who = ADMIN) {
  return (await api(gw.url, 'POST', '/staff/v1/auth/login', { body: who })).token
}

/** A citizen logged in through the WeChat simulator; with `verified`, face-verified as 张三 with a bound phone. */
export async function citizen(gw, { verified = false, name = '张三', idCardNo = '11010519491231002X', phone = '13800138000' } = {}) {
  const { code } = await api(gw.sim, 'POST', '/__sim/login-code', { body: {} })
  const { token } = await api(gw.url, 'POST', '/api/v1/auth/login', { body: { code } })
  if (verified) {
    const p = await api(gw.sim, 'POST', '/__sim/phone-code', { body: { phone } })
    await api(gw.url, 'POST', '/api/v1/me/phone', { token, body: { code: p.code } })
    const v = await api(gw.url, 'POST', '/api/v1/me/identity/verifications', { token, body: { name, idCardNo } })
    await api(gw.sim, 'POST', '/__sim/face-result', { body: { verifyId: v.verifyId, verifyRet: 10000 } })
    await api(gw.url, 'POST', `/api/v1/me/identity/verifications/${v.id}/complete`, { token })
  }
  return token
}

export function shanghaiToday() {
  return new Date().toLocaleDateString('sv-SE', { timeZone: 'Asia/Shanghai' })
}

/** The demo hall's id, open all of today whatever the hour and the calendar say. */
export async function openAllDay(gw, admin) {
  const { halls } = await api(gw.url, 'GET', '/staff/v1/halls', { token: admin })
  const hall = halls.find((h) => h.code === HALL)
  await api(gw.url, 'PUT', `/staff/v1/halls/${hall.id}/exceptions/${shanghaiToday()}`, {
    token: admin,
    body: { closed: false, opens: '00:00', closes: '23:59', note: '浏览器测试' },
  })
  return hall.id
}

/** An item of the demo hall in category `prefix` (A: 综合受理, B: 公安户政, C: 不动产). */
export async function itemOf(gw, admin, hallId, prefix = 'A') {
  const hall = await api(gw.url, 'GET', `/staff/v1/halls/${hallId}`, { token: admin })
  const category = hall.categories.find((c) => c.prefix === prefix)
  return hall.items.find((i) => i.categoryId === category.id).itemCode
}

/** Logs into the console in `page` and lands on the workstation. */
export async function consoleLogin(page, gw, who = ADMIN) {
  await page.goto(`${gw.url}/console/`)
  await page.getByLabel('用户名').fill(who.username)
  await page.getByLabel('密码').fill(who.password)
  await page.getByTestId('login').click()
  await page.getByTestId('counter-select').waitFor()
}

/** Chooses an Element Plus select's option by its visible label. */
export async function choose(page, testId, label) {
  await page.getByTestId(testId).click()
  await page.locator('.el-select-dropdown__item:visible', { hasText: label }).first().click()
}

export async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: false })
}

/** Collects CSP violations and page errors: a test fails on any. */
export function watchPage(page, problems) {
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text())
  })
  page.on('pageerror', (e) => problems.push(String(e)))
}

/** Replaces speechSynthesis.speak by a recorder (window.__spoken). */
export const SPEECH_STUB = () => {
  window.__spoken = []
  const synth = window.speechSynthesis
  synth.speak = (u) => {
    window.__spoken.push(u.text)
    setTimeout(() => u.onend && u.onend(new Event('end')), 10)
  }
}
