import { describe, expect, it } from 'vitest'
import { lastDays, minutes } from './statsDays'

describe('stats days', () => {
  it('counts back in Shanghai time', () => {
    // 2026-03-02 01:00 in Shanghai is still 1 March in UTC.
    expect(lastDays(new Date('2026-03-01T17:00:00Z'), 3)).toEqual(['2026-02-28', '2026-03-01', '2026-03-02'])
  })
  it('shows minutes', () => {
    expect(minutes(90)).toBe(1.5)
    expect(minutes(null)).toBeNull()
  })
})
