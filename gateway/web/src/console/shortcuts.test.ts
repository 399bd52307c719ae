import { describe, expect, it } from 'vitest'
import { actionFor, allowed, KEYS } from './shortcuts'

const key = (k: string, extra: Partial<{ altKey: boolean; ctrlKey: boolean; repeat: boolean }> = {}) => ({
  key: k,
  altKey: false,
  ctrlKey: false,
  metaKey: false,
  ...extra,
})

describe('shortcuts', () => {
  it('maps each key to one action, either case', () => {
    expect(actionFor(key('n'), false)).toBe('callNext')
    expect(actionFor(key('D'), false)).toBe('done')
    expect(new Set(Object.values(KEYS)).size).toBe(Object.keys(KEYS).length)
  })
  it('stays out of text fields, modified keys and auto-repeat', () => {
    expect(actionFor(key('n'), true)).toBeNull()
    expect(actionFor(key('n', { ctrlKey: true }), false)).toBeNull()
    expect(actionFor(key('n', { altKey: true }), false)).toBeNull()
    expect(actionFor(key('n', { repeat: true }), false)).toBeNull()
    expect(actionFor(key('q'), false)).toBeNull()
  })
  it('offers what the ticket state allows', () => {
    expect([...allowed(null)]).toEqual(['callNext'])
    expect(allowed({ state: 'CALLED', calls: 1 }).has('recall')).toBe(true)
    expect(allowed({ state: 'CALLED', calls: 3 }).has('recall')).toBe(false)
    expect([...allowed({ state: 'SERVING', calls: 1 })].sort()).toEqual(['done', 'transfer'])
    expect([...allowed({ state: 'DONE', calls: 1 })]).toEqual(['callNext'])
  })
})
