// The hall in a real browser: the clerk's workstation, the display board and the administrator's
// console against the real gateway. Each scenario of issue 17's Tests section is one `test`.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import {
  ADMIN, HALL, SPEECH_STUB, api, choose, citizen, consoleLogin, itemOf, launchBrowser, openAllDay,
  shot, staffToken, startGateway, watchPage,
} from './lib.mjs'

const VIEWPORT = { width: 1366, height: 768 }
let gw
let browser
let admin
let hallId
let problems = []

before(async () => {
  gw = await startGateway()
  browser = await launchBrowser()
  admin = await staffToken(gw)
  hallId = await openAllDay(gw, admin)
})

after(async () => {
  await browser?.close()
  await gw?.stop()
  assert.deepEqual(problems, [], 'no CSP violation and no page error')
})

async function newPage(viewport = VIEWPORT) {
  // A Chinese counter PC: the browser's own date fields read 年/月/日.
  const context = await browser.newContext({ viewport, locale: 'zh-CN' })
  const page = await context.newPage()
  watchPage(page, problems)
  return page
}

async function boardPage() {
  const page = await newPage({ width: 1920, height: 1080 })
  await page.addInitScript(SPEECH_STUB)
  await page.goto(`${gw.url}/board/${HALL}`)
  await page.getByTestId('status').filter({ hasText: '实时' }).waitFor()
  return page
}

const spoken = (page) => page.evaluate(() => window.__spoken)

async function takeTicket(prefix = 'A') {
  const token = await citizen(gw)
  const itemCode = await itemOf(gw, admin, hallId, prefix)
  return api(gw.url, 'POST', `/api/v1/halls/${HALL}/tickets`, { token, body: { itemCode } })
}

test('pages come with strict headers and no inline script', async () => {
  const page = await fetch(`${gw.url}/console/`)
  assert.equal(page.status, 200)
  assert.equal(page.headers.get('cache-control'), 'no-store')
  const csp = page.headers.get('content-security-policy')
  assert.match(csp, /script-src 'self';/)
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/)
  assert.equal(page.headers.get('x-frame-options'), 'DENY')
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff')
  const html = await page.text()
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script has a src')
  const src = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1]
  assert.ok(src)
  const asset = await fetch(`${gw.url}${src}`)
  assert.equal(asset.status, 200)
  assert.match(asset.headers.get('content-type'), /javascript/)
  assert.match(asset.headers.get('cache-control'), /immutable/)
  const board = await fetch(`${gw.url}/board/${HALL}`)
  assert.equal(board.status, 200)
  assert.ok(board.headers.get('content-security-policy'))
  assert.equal((await fetch(`${gw.url}/assets/nope.js`)).status, 404)
  const redirect = await fetch(`${gw.url}/console`, { redirect: 'manual' })
  assert.equal(redirect.status, 308)
})

test('a call from the workstation reaches the board within a second and is spoken once', async () => {
  const board = await boardPage()
  await board.getByTestId('hall-name').filter({ hasText: '杭州市民中心' }).waitFor()
  const ticket = await takeTicket('A')
  const clerk = await newPage()
  await consoleLogin(clerk, gw)
  await shot(clerk, '01-workstation-empty')
  await choose(clerk, 'counter-select', '1号 1号窗口')
  // The live line shows the citizen's ticket.
  await clerk.getByTestId('line').getByText(ticket.number).waitFor()
  await shot(clerk, '02-workstation-line')

  // Call next with its key.
  await clerk.locator('body').press('n')
  const started = Date.now()
  await clerk.getByTestId('current-number').filter({ hasText: ticket.number }).waitFor()
  await board.getByTestId('latest-call').filter({ hasText: ticket.number }).waitFor({ timeout: 1000 })
  const latency = Date.now() - started
  assert.ok(latency <= 1000, `board showed the call after ${latency} ms`)
  const text = `请${ticket.number}号到1号窗口办理`
  await board.waitForFunction((t) => window.__spoken.includes(t), text)
  assert.deepEqual(await spoken(board), [text])
  await shot(board, '03-board-call')
  await shot(clerk, '04-workstation-called')

  // Recall: announced again, once more.
  await clerk.getByTestId('act-recall').click()
  await clerk.getByTestId('notice').filter({ hasText: '重呼' }).waitFor()
  await board.waitForFunction(() => window.__spoken.length === 2)
  assert.deepEqual(await spoken(board), [text, text])

  // Serve, then done.
  await clerk.locator('body').press('s')
  await clerk.getByTestId('current-state').filter({ hasText: '办理中' }).waitFor()
  await clerk.locator('body').press('d')
  await clerk.getByText('当前无号').waitFor()

  // No-show.
  const second = await takeTicket('A')
  await clerk.getByTestId('line').getByText(second.number).waitFor()
  await clerk.getByTestId('act-callNext').click()
  await clerk.getByTestId('current-number').filter({ hasText: second.number }).waitFor()
  await clerk.locator('body').press('x')
  await clerk.getByText('当前无号').waitFor()

  // Transfer to 公安户政: back to waiting there, off this counter.
  const third = await takeTicket('A')
  await clerk.getByTestId('line').getByText(third.number).waitFor()
  await clerk.locator('body').press('n')
  await clerk.getByTestId('current-number').filter({ hasText: third.number }).waitFor()
  await clerk.locator('body').press('t')
  await choose(clerk, 'transfer-to', '公安户政')
  await shot(clerk, '05-workstation-transfer')
  await clerk.getByTestId('transfer-confirm').click()
  await clerk.getByTestId('notice').filter({ hasText: '公安户政' }).waitFor()
  // Counter 1 also serves 公安户政: the transferred ticket is in its line again.
  await clerk.getByTestId('line').getByText(third.number).waitFor()

  // An error shows its Chinese message: nobody waits at counter 3 (不动产 + 综合受理) now that
  // the line holds only a 公安户政 ticket.
  await choose(clerk, 'counter-select', '3号')
  await clerk.locator('[data-testid=live][data-live=true]').waitFor({ state: 'attached' })
  await clerk.getByText('当前无号').waitFor()
  await clerk.locator('body').press('n')
  await clerk.getByTestId('error').filter({ hasText: /等候|没有/ }).waitFor()
  await shot(clerk, '06-workstation-error')

  // Every call was announced exactly once each: 3 tickets called (the first recalled once).
  await board.waitForFunction(() => window.__spoken.length === 4)
  const all = await spoken(board)
  assert.equal(new Set(all.slice(2)).size, 2)
  await board.context().close()
  await clerk.context().close()
})

test('the board reconnects after a gateway restart without replaying old calls', async () => {
  const board = await boardPage()
  const token = admin
  const ticket = await takeTicket('C')
  const called = await api(gw.url, 'POST', `/staff/v1/halls/${hallId}/counters/${await counterId(3)}/call-next`, { token })
  assert.equal(called.number, ticket.number)
  await board.waitForFunction((n) => window.__spoken.some((t) => t.includes(n)), ticket.number)
  const before = (await spoken(board)).length

  await gw.restart()
  admin = await staffToken(gw).catch(() => admin)
  await board.getByTestId('status').filter({ hasText: '实时' }).waitFor({ timeout: 15_000 })
  await shot(board, '07-board-reconnected')
  // Resynchronised: still shows the last call, announced nothing again.
  await board.getByTestId('latest-call').filter({ hasText: ticket.number }).waitFor()
  await board.waitForTimeout(1500)
  assert.equal((await spoken(board)).length, before, 'no old call replayed')

  // The next call is announced once.
  await takeTicket('C')
  await api(gw.url, 'POST', `/staff/v1/halls/${hallId}/counters/${await counterId(3)}/tickets/${called.id}/no-show`, { token: admin })
  const next = await api(gw.url, 'POST', `/staff/v1/halls/${hallId}/counters/${await counterId(3)}/call-next`, { token: admin })
  await board.waitForFunction((n) => window.__spoken.some((t) => t.includes(n)), next.number)
  await board.waitForTimeout(500)
  const after = await spoken(board)
  assert.equal(after.length, before + 1)
  await board.context().close()
})

async function counterId(number) {
  const w = await api(gw.url, 'GET', `/staff/v1/halls/${hallId}/workstation`, { token: admin })
  return w.counters.find((c) => c.number === number).id
}

test('a citizen checks in by code; a wrong code shows its Chinese message', async () => {
  // Today bookable and check-in open for any slot of the next four hours.
  await api(gw.url, 'PUT', `/staff/v1/halls/${hallId}`, {
    token: admin,
    body: { rules: { bookMinWorkingDays: 0, checkinBeforeMinutes: 240 } },
  })
  // Tomorrow open all day too: a slot is offered only until its cancellation cut-off, 120
  // minutes before it (domain-rules.md), so from 21:00 Shanghai on today has none left (its last
  // slot starts at 23:00, as 23:59 leaves no room for another) and the next is tomorrow's.
  const tomorrow = new Date(Date.now() + 24 * 3600_000).toLocaleDateString('sv-SE', { timeZone: 'Asia/Shanghai' })
  await api(gw.url, 'PUT', `/staff/v1/halls/${hallId}/exceptions/${tomorrow}`, {
    token: admin,
    body: { closed: false, opens: '00:00', closes: '23:59', note: '浏览器测试' },
  })
  const token = await citizen(gw, { verified: true })
  const itemCode = await itemOf(gw, admin, hallId, 'B')
  const { days } = await api(gw.url, 'GET', `/api/v1/halls/${HALL}/slots?itemCode=${itemCode}`, { token })
  const now = Date.now()
  const slot = days
    .flatMap((d) => d.slots ?? [])
    .find((s) => s.left > 0 && Date.parse(s.startsAt) > now && Date.parse(s.startsAt) - now < 4 * 3600_000)
  // Today and tomorrow open all day: a slot starts within the next four hours at any hour. The
  // rules were saved a moment ago and apply at once, although the previous test's call-next had
  // just read (and cached, for 5 s) the hall with today not bookable: before the gateway forgot a
  // changed hall, today was "past" here and the next slot tomorrow at 09:00 (issue 17's note).
  assert.ok(slot, `a bookable slot within four hours of ${new Date(now).toISOString()}: ${JSON.stringify(days.map((d) => [d.date, d.state]))}`)
  const booking = await api(gw.url, 'POST', '/api/v1/bookings', { token, body: { slotId: slot.id, itemCode } })

  const clerk = await newPage()
  await consoleLogin(clerk, gw)
  await clerk.getByRole('tab', { name: '预约签到' }).click()
  await clerk.getByTestId('checkin-code').fill('ZZZZZZZZ')
  await clerk.getByTestId('checkin-submit').click()
  await clerk.getByTestId('error').filter({ hasText: /预约/ }).waitFor()
  await clerk.getByTestId('checkin-code').fill(booking.code)
  await clerk.keyboard.press('Enter')
  await clerk.getByTestId('checkin-result').waitFor()
  const number = (await clerk.getByTestId('checkin-result').textContent()) ?? ''
  assert.match(number, /排队号\s*B\d{3}/)
  await shot(clerk, '08-checkin')

  // Called at counter 2 (公安户政 first): the brief shows the holder masked.
  await choose(clerk, 'counter-select', '2号')
  await clerk.locator('[data-testid=live][data-live=true]').waitFor({ state: 'attached' })
  await clerk.getByText('当前无号').waitFor()
  await clerk.locator('body').press('n')
  await clerk.getByTestId('brief').waitFor()
  assert.equal((await clerk.getByTestId('brief-name').textContent()).trim(), '张*')
  assert.equal((await clerk.getByTestId('brief-phone').textContent()).trim(), '138****8000')
  await shot(clerk, '09-workstation-brief')
  await clerk.getByRole('tab', { name: '今日预约' }).click()
  await clerk.getByTestId('bookings').getByText(booking.code).waitFor()
  await clerk.context().close()
})

test('a licence verification: valid, expired and tampered', async () => {
  const token = await citizen(gw, { verified: true, name: '张三', idCardNo: '11010519491231002X', phone: '13900139000' })
  const { licences } = await api(gw.url, 'GET', '/api/v1/licences', { token })
  const id = licences[0].licenceId
  const present = async () =>
    (await api(gw.url, 'POST', `/api/v1/licences/${encodeURIComponent(id)}/presentations`, { token })).payload

  const clerk = await newPage()
  await consoleLogin(clerk, gw)
  await clerk.getByRole('tab', { name: '亮证核验' }).click()
  const verify = async (payload) => {
    await clerk.getByTestId('licence-payload').fill(payload)
    await clerk.getByTestId('licence-submit').click()
  }

  await verify(await present())
  await clerk.getByTestId('verdict-text').filter({ hasText: '有效' }).waitFor()
  assert.equal((await clerk.getByTestId('verdict-holder').textContent()).trim(), '张*')
  await shot(clerk, '10-verify-valid')

  // Tampered: one character of the signature changed.
  const good = await present()
  const last = good.at(-2) === 'A' ? 'B' : 'A'
  await verify(`${good.slice(0, -2)}${last}${good.at(-1)}`)
  await clerk.getByTestId('verdict-text').filter({ hasText: '无效' }).waitFor()
  assert.match(await clerk.getByTestId('verdict-message').textContent(), /签名|篡改|无法识别/)
  await shot(clerk, '11-verify-tampered')

  // Expired: the licence itself expired at the issuer.
  await api(gw.province, 'POST', '/__sim/licences/status', { body: { licenceId: id, status: 'EXPIRED' } })
  const expired = await present().catch(() => null)
  if (expired) {
    await verify(expired)
    await clerk.getByTestId('verdict-message').filter({ hasText: /过期|有效期/ }).waitFor()
    assert.match(await clerk.getByTestId('verdict-text').textContent(), /无效/)
  } else {
    // The gateway refuses to present an expired licence: a presentation from before expiry
    // is then refused by the verifier once its own minute is up — shown as 无效 all the same.
    await verify(good)
    await clerk.getByTestId('verdict-message').filter({ hasText: /过期|有效期|已核验|已扫描/ }).waitFor()
    assert.match(await clerk.getByTestId('verdict-text').textContent(), /无效/)
  }
  await shot(clerk, '12-verify-expired')
  await clerk.context().close()
})

test('an administrator changes the hours and uploads a calendar with one bad line', async () => {
  const page = await newPage()
  await consoleLogin(page, gw)
  await page.getByRole('link', { name: '办公时间' }).click()
  await page.getByTestId('opens-1').fill('08:30')
  await page.getByTestId('hours-save').click()
  await page.getByTestId('notice').filter({ hasText: '已保存' }).waitFor()
  const hall = await api(gw.url, 'GET', `/staff/v1/halls/${hallId}`, { token: admin })
  assert.equal(hall.hours.find((d) => d.weekday === 1).opens, '08:30')
  await shot(page, '13-admin-hours')

  // A bad time shows the gateway's Chinese message.
  await page.getByTestId('closes-2').fill('25:00')
  await page.getByTestId('hours-save').click()
  await page.getByTestId('error').waitFor()
  assert.match(await page.getByTestId('error').textContent(), /[\u4e00-\u9fa5]/)

  await page.getByRole('link', { name: '节假日日历' }).click()
  await page.getByTestId('calendar-year').fill('2028')
  await page.getByTestId('calendar-text').fill(
    ['2028-01-01 holiday 元旦', '2028-01-29 holliday 春节', '2028-02-01 workday 春节调休'].join('\n'),
  )
  await page.getByTestId('calendar-upload').click()
  await page.getByTestId('error').filter({ hasText: '第2行' }).waitFor()
  const bad = page.locator('[data-testid=calendar-lines] li[data-bad=true]')
  assert.match(await bad.textContent(), /holliday/)
  await shot(page, '14-admin-calendar-error')
  await page.getByTestId('calendar-text').fill(
    ['2028-01-01 holiday 元旦', '2028-02-01 workday 春节调休'].join('\n'),
  )
  await page.getByTestId('calendar-upload').click()
  await page.getByTestId('notice').filter({ hasText: '已导入' }).waitFor()

  await page.getByRole('link', { name: '排队统计' }).click()
  await page.getByTestId('stats').getByText('综合受理').waitFor()
  await page.locator('[data-testid=chart-day] canvas').waitFor()
  await shot(page, '15-admin-stats')
  for (const [link, name] of [['大厅设置', '16-admin-hall'], ['人员与角色', '17-admin-staff'], ['挂起的申请', '18-admin-parked']]) {
    await page.getByRole('link', { name: link }).click()
    await page.waitForTimeout(300)
    await shot(page, name)
  }
  // Nothing overflows sideways at 1366×768.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth)
  assert.equal(overflow, false)
  await page.context().close()
})

test('the console refuses a wrong password with its Chinese message', async () => {
  const page = await newPage()
  await page.goto(`${gw.url}/console/`)
  await page.getByLabel('用户名').fill(ADMIN.username)
  await page.getByLabel('密码').fill('wrong-password-123')
  await page.getByTestId('login').click()
  await page.getByTestId('login-error').waitFor()
  assert.match(await page.getByTestId('login-error').textContent(), /[\u4e00-\u9fa5]/)
  await shot(page, '00-login-error')
  await page.context().close()
})
