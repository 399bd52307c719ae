// The 差评 desk in a real browser: a real-name citizen's ticket is served and rated 非常不满意
// through the API; the hall's administrator finds the rectification ticket in the console,
// overdue first with the header's badge once the worker alerted it, records the contact (回访)
// and the rectification, and sees the citizen's 追评 afterwards. Screenshots go with the rest.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import {
  HALL, api, citizen, consoleLogin, itemOf, launchBrowser, openAllDay, shot, staffToken, startGateway,
  watchPage,
} from './lib.mjs'

const VIEWPORT = { width: 1366, height: 768 }
let gw
let browser
let admin
let hallId
const problems = []

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

/** A verified citizen's ticket, served and done at counter 1 by the admin, rated `grade`. */
async function badRating(grade, tags, person) {
  const token = await citizen(gw, { verified: true, ...person })
  const itemCode = await itemOf(gw, admin, hallId, 'A')
  const ticket = await api(gw.url, 'POST', `/api/v1/halls/${HALL}/tickets`, { token, body: { itemCode } })
  const w = await api(gw.url, 'GET', `/staff/v1/halls/${hallId}/workstation`, { token: admin })
  const counter = w.counters.find((c) => c.number === 1).id
  const base = `/staff/v1/halls/${hallId}/counters/${counter}`
  const called = await api(gw.url, 'POST', `${base}/call-next`, { token: admin })
  assert.equal(called.id, ticket.id)
  await api(gw.url, 'POST', `${base}/tickets/${ticket.id}/serve`, { token: admin, body: {} })
  await api(gw.url, 'POST', `${base}/tickets/${ticket.id}/done`, { token: admin, body: {} })
  const indicators = { overall: grade, efficiency: grade, serviceLevel: grade, attitude: grade }
  const rated = await api(gw.url, 'POST', '/api/v1/evaluations', {
    token,
    body: { subjectKind: 'TICKET', subjectId: String(ticket.id), grade, indicators, tags },
  })
  assert.ok(rated.rectification, 'a real-name 差评 opens a rectification ticket')
  return { token, evaluation: rated }
}

test('the 差评 desk: overdue first with its badge, contact, rectification and the 追评', async () => {
  const first = await badRating(1, ['服务态度差'], {})
  const second = await badRating(2, ['等候时间长'], { name: '李四', idCardNo: '110105198001010016', phone: '13900139000' })
  // Time passing, for the test: the second ticket's contact deadline is behind it now. The
  // gateway's worker (every second) alerts the hall's admins once.
  gw.sql(`UPDATE rectifications SET contact_due_at = created_at WHERE id = ${second.evaluation.rectification.id}`)
  for (let i = 0; ; i++) {
    const box = await api(gw.url, 'GET', '/staff/v1/inbox', { token: admin })
    if (box.unread === 1) break
    assert.ok(i < 100, 'the overdue alert within 10 s')
    await new Promise((r) => setTimeout(r, 100))
  }

  const context = await browser.newContext({ viewport: VIEWPORT })
  const page = await context.newPage()
  watchPage(page, problems)
  await consoleLogin(page, gw)
  // The badge on the navigation, then the desk: the overdue ticket first, flagged.
  await page.getByTestId('inbox-badge').filter({ hasText: '1' }).waitFor()
  await page.getByTestId('nav-rectifications').click()
  const cards = page.getByTestId('rectification')
  await cards.first().waitFor()
  assert.equal(await cards.count(), 2)
  assert.equal(await cards.first().getAttribute('data-id'), String(second.evaluation.rectification.id))
  assert.equal(await cards.first().getByTestId('overdue').count(), 1)
  assert.equal(await cards.nth(1).getByTestId('overdue').count(), 0)
  await page.getByTestId('alert').filter({ hasText: '未按期回访' }).waitFor()
  await shot(page, '20-rectifications-overdue')

  // Read the alert: the badge goes.
  await page.getByTestId('mark-read').click()
  await page.getByTestId('inbox-badge').waitFor({ state: 'detached' })

  // The contact (回访), then an empty rectification note is refused in Chinese, then the rectification.
  const card = page.locator(`[data-testid=rectification][data-id="${first.evaluation.rectification.id}"]`)
  await card.getByTestId('contact').click()
  await card.getByTestId('note').fill('已电话回访，向群众致歉并说明改进措施')
  await card.getByTestId('save').click()
  await page.getByTestId('notice').filter({ hasText: '回访已记录' }).waitFor()
  await card.getByTestId('status').filter({ hasText: '已回访' }).waitFor()
  await card.getByTestId('contact-note').filter({ hasText: '已电话回访' }).waitFor()
  await card.getByTestId('rectify').click()
  await card.getByTestId('save').click()
  await page.getByTestId('error').waitFor()
  assert.match(await page.getByTestId('error').innerText(), /[\u4e00-\u9fff]/)
  await card.getByTestId('note').fill('已对窗口人员开展服务规范培训')
  await card.getByTestId('save').click()
  await page.getByTestId('notice').filter({ hasText: '整改已记录' }).waitFor()
  // Rectified tickets leave the open list; shown with "显示已整改".
  await page.locator(`[data-testid=rectification][data-id="${first.evaluation.rectification.id}"]`).waitFor({ state: 'detached' })

  // The citizen is told, and adds the one 追评; the desk shows it.
  await api(gw.url, 'POST', `/api/v1/evaluations/${first.evaluation.id}/follow-up`, {
    token: first.token,
    body: { grade: 4 },
  })
  await page.getByTestId('show-all').check()
  await card.getByTestId('follow-up').filter({ hasText: '4分' }).waitFor()
  await card.getByTestId('rectify-note').filter({ hasText: '服务规范培训' }).waitFor()
  // No identity on the page.
  const text = await page.locator('main').innerText()
  assert.doesNotMatch(text, /11010519491231002X|张三|13800138000|李四|13900139000/)
  await shot(page, '21-rectifications-followed-up')
  await context.close()
})
