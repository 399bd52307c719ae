import { describe, expect, it } from 'vitest'
import { badgeText, dueOf, statusLabel, stepsFor } from './rectifications'

describe('the 差评 desk', () => {
  it('offers the contact only before it, the rectification until it is recorded', () => {
    expect(stepsFor('OPEN')).toEqual(['contact', 'rectify'])
    expect(stepsFor('CONTACTED')).toEqual(['rectify'])
    expect(stepsFor('RECTIFIED')).toEqual([])
    expect(statusLabel('CONTACTED')).toBe('已回访，待整改')
  })

  it('shows the deadline of the step at hand', () => {
    const r = { contactDueDate: '2026-10-08', rectifyDueDate: '2026-10-13' }
    expect(dueOf({ ...r, status: 'OPEN' })).toEqual({ label: '回访期限', date: '2026-10-08' })
    expect(dueOf({ ...r, status: 'CONTACTED' })).toEqual({ label: '整改期限', date: '2026-10-13' })
    expect(dueOf({ ...r, status: 'RECTIFIED' })).toBeNull()
  })

  it('caps the badge', () => {
    expect(badgeText(0)).toBe('')
    expect(badgeText(3)).toBe('3')
    expect(badgeText(120)).toBe('99+')
  })
})
