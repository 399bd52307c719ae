import { describe, expect, it } from 'vitest'
import { CallLedger, merge } from './calls'
import type { BoardCall } from '../shared/api'

const at = (ms: number) => new Date(ms).toISOString()
const call = (callId: number, ms = 0, number = `A${callId}`): BoardCall => ({
  callId,
  ticketId: callId,
  number,
  counterNumber: 1,
  counterName: '1号窗口',
  announce: `请${number}号到1号窗口办理`,
  at: at(ms),
})

describe('CallLedger', () => {
  it('announces each live call once, in order, and never an older one', () => {
    const l = new CallLedger()
    expect(l.snapshot([], 0)).toEqual([])
    expect(l.live(call(5))).toBe(true)
    expect(l.live(call(5))).toBe(false)
    expect(l.live(call(4))).toBe(false)
    expect(l.live(call(6))).toBe(true)
  })

  it('reads out nothing of the first snapshot', () => {
    const l = new CallLedger()
    expect(l.snapshot([call(3), call(2)], 1000)).toEqual([])
    expect(l.live(call(3))).toBe(false)
  })

  it('after a reconnect reads out only the fresh calls it missed, oldest first', () => {
    const l = new CallLedger(60_000)
    l.snapshot([call(1, 0)], 0)
    expect(l.live(call(2, 0))).toBe(true)
    const now = 100_000
    const missed = l.snapshot([call(5, now - 1000), call(4, now - 2000), call(3, 0), call(2, 0)], now)
    expect(missed.map((c) => c.callId)).toEqual([4, 5])
    expect(l.snapshot([call(5, now)], now)).toEqual([])
    expect(l.live(call(5, now))).toBe(false)
  })
})

describe('merge', () => {
  it('keeps newest first without duplicates', () => {
    const shown = [call(2), call(1)]
    expect(merge(shown, call(3)).map((c) => c.callId)).toEqual([3, 2, 1])
    expect(merge(shown, call(2)).map((c) => c.callId)).toEqual([2, 1])
    expect(merge([call(3), call(2), call(1)], call(4), 2).map((c) => c.callId)).toEqual([4, 3])
  })
})
