import { describe, expect, it } from 'vitest'
import { badLine } from './calendarLines'

describe('badLine', () => {
  it('finds the line a message names', () => {
    expect(badLine('第3行：日期无效')).toBe(3)
    expect(badLine('line 12: bad kind')).toBe(12)
    expect(badLine('年份不符')).toBeNull()
  })
})
