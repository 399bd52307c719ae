// `bench board` (tests/bench runs this with the release gateway): the time from a call-next on
// the API to the board page's DOM showing it, over `--calls` calls with `--boards` boards open
// (p50/p99, target p99 ≤ 500 ms); the console's and the board's JavaScript gzipped (targets
// ≤ 350 KB and ≤ 120 KB); and the time to first render of each page on localhost (≤ 1 s).
//
// Sizes are of the committed dist, each file gzipped at level 9, and the console is counted two
// ways, both held to the 350 KB target: its first load (the scripts and modulepreloads of its
// index.html and their static imports: the login and the workstation) and all it can ever fetch
// (those plus every dynamic import, transitively: each administration screen, ECharts, jsQR).
// The board counts everything it can fetch.
//
// Each call-next goes over a fresh TCP connection (`agent: false`): no keep-alive socket is
// reused between measurements, so a connection the gateway closed meanwhile cannot fail one.
// The send time and the DOM time are both `Date.now()` on this machine; each board records, in
// a MutationObserver, when a number first appears in its latest-call element.
import { readFileSync, readdirSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { HALL, api, launchBrowser, openAllDay, staffToken, startGateway } from './lib.mjs'

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}
const CALLS = arg('calls', 200)
const BOARDS = arg('boards', 20)
const dist = join(import.meta.dirname, '..', 'dist')

function post(url, token) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, headers: { authorization: `Bearer ${token}`, 'content-length': 0 } }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString()
        if (res.statusCode !== 200) reject(new Error(`${url}: ${res.statusCode} ${body}`))
        else resolve(JSON.parse(body))
      })
    })
    req.on('error', reject)
    req.end()
  })
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]

/** The JS a page loads: its entry, what that imports, transitively (`lazy` adds dynamic imports). */
function pageJs(html, lazy) {
  const seen = new Set()
  const queue = [...html.matchAll(/(?:src|href)="\/assets\/([^"]+\.js)"/g)].map((m) => m[1])
  while (queue.length) {
    const f = queue.shift()
    if (seen.has(f)) continue
    seen.add(f)
    const code = readFileSync(join(dist, 'assets', f), 'utf8')
    const re = lazy ? /["'`](?:\.\/|\/assets\/)([\w.-]+\.js)["'`]/g : /(?:from\s*|import\s*)["'](?:\.\/|\/assets\/)([\w.-]+\.js)["']/g
    for (const m of code.matchAll(re)) queue.push(m[1])
  }
  return [...seen]
}
const gz = (files) => files.reduce((n, f) => n + gzipSync(readFileSync(join(dist, 'assets', f)), { level: 9 }).length, 0)

const gw = await startGateway()
const browser = await launchBrowser()
try {
  const admin = await staffToken(gw)
  const hallId = await openAllDay(gw, admin)
  const work = await api(gw.url, 'GET', `/staff/v1/halls/${hallId}/workstation`, { token: admin })
  const a = work.categories.find((c) => c.prefix === 'A').id
  const counter = work.counters.find((c) => c.number === 1).id

  // First render: navigation start to the board's hall name on screen, and to the console's
  // login form, each in a fresh context (nothing cached).
  const firstRender = {}
  for (const [name, url, selector] of [
    ['board', `${gw.url}/board/${HALL}`, '[data-testid=hall-name]:has-text("杭州市民中心")'],
    ['console', `${gw.url}/console/`, '[data-testid=login]'],
  ]) {
    const ctx = await browser.newContext()
    const page = await ctx.newPage()
    await page.goto(url)
    await page.locator(selector).waitFor()
    firstRender[name] = await page.evaluate(() => performance.now())
    await ctx.close()
  }

  const boards = []
  for (let i = 0; i < BOARDS; i++) {
    const ctx = await browser.newContext({ viewport: { width: 960, height: 540 } })
    const page = await ctx.newPage()
    await page.addInitScript(() => {
      window.__seen = {}
      window.speechSynthesis.speak = () => {}
      const watch = () => {
        const el = document.querySelector('[data-testid=latest-call]')
        if (!el) return
        const id = el.getAttribute('data-call-id')
        if (id && !(id in window.__seen)) window.__seen[id] = Date.now()
      }
      new MutationObserver(watch).observe(document, { subtree: true, childList: true, attributes: true, characterData: true })
    })
    await page.goto(`${gw.url}/board/${HALL}`)
    await page.locator('[data-testid=status]:has-text("实时")').waitFor()
    boards.push(page)
  }

  for (let i = 0; i < CALLS; i++) {
    await api(gw.url, 'POST', `/staff/v1/halls/${hallId}/tickets`, { token: admin, body: { categoryId: a } })
  }
  const latencies = []
  const base = `${gw.url}/staff/v1/halls/${hallId}/counters/${counter}`
  let held = null
  for (let i = 0; i < CALLS; i++) {
    if (held) await post(`${base}/tickets/${held}/done`, admin).catch(() => post(`${base}/tickets/${held}/no-show`, admin))
    const sent = Date.now()
    const ticket = await post(`${base}/call-next`, admin)
    held = ticket.id
    await post(`${base}/tickets/${held}/serve`, admin)
    // The call id is the board's: read it from the first board, then wait for all of them.
    const seen = await Promise.all(
      boards.map((p) =>
        p.waitForFunction((n) => {
          const el = document.querySelector('[data-testid=latest-call]')
          return el && el.textContent.includes(n) && window.__seen[el.getAttribute('data-call-id')]
        }, ticket.number, { timeout: 10_000, polling: 20 }).then((h) => h.jsonValue()),
      ),
    )
    for (const t of seen) latencies.push(t - sent)
  }
  latencies.sort((x, y) => x - y)

  const consoleHtml = readFileSync(join(dist, 'console', 'index.html'), 'utf8')
  const boardHtml = readFileSync(join(dist, 'board', 'index.html'), 'utf8')
  const allJs = readdirSync(join(dist, 'assets')).filter((f) => f.endsWith('.js'))
  const boardJs = pageJs(boardHtml, true)
  const consoleInitial = pageJs(consoleHtml, false)
  const consoleAll = pageJs(consoleHtml, true)
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`
  const ok = (v, target) => (v <= target ? 'ok' : 'MISSED')
  const p50 = pct(latencies, 50)
  const p99 = pct(latencies, 99)
  console.log(`bench board — ${gw.backend}, ${BOARDS} boards, ${CALLS} calls (${latencies.length} board updates)`)
  console.log(`  call-next → board DOM    p50 ${p50} ms   p99 ${p99} ms   max ${latencies.at(-1)} ms   (target p99 ≤ 500 ms: ${ok(p99, 500)})`)
  console.log(`  board JS gzipped         ${kb(gz(boardJs))} in ${boardJs.length} files   (target ≤ 120 KB: ${ok(gz(boardJs), 120 * 1024)})`)
  console.log(`  console JS gzipped       ${kb(gz(consoleInitial))} on first load (workstation), ${kb(gz(consoleAll))} with every lazy screen   (target ≤ 350 KB: ${ok(gz(consoleInitial), 350 * 1024)} / ${ok(gz(consoleAll), 350 * 1024)})`)
  console.log(`  all JS in dist gzipped   ${kb(gz(allJs))}`)
  console.log(`  first render (localhost) board ${firstRender.board.toFixed(0)} ms, console ${firstRender.console.toFixed(0)} ms   (target ≤ 1000 ms: ${ok(Math.max(firstRender.board, firstRender.console), 1000)})`)
} finally {
  await browser.close()
  await gw.stop()
}
