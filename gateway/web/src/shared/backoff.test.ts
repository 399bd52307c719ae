import { describe, expect, it } from 'vitest'
import { backoff, socketUrl } from './backoff'

describe('backoff', () => {
  it('doubles from half a second and stops at five', () => {
    const none = () => 0
    expect([0, 1, 2, 3, 4, 5, 9].map((n) => backoff(n, none))).toEqual([
      500, 1000, 2000, 4000, 5000, 5000, 5000,
    ])
  })
  it('adds at most a fifth of jitter', () => {
    expect(backoff(0, () => 0.999)).toBeLessThanOrEqual(600)
  })
})

describe('socketUrl', () => {
  it('follows the page scheme', () => {
    expect(socketUrl('/x', { protocol: 'https:', host: 'h:1' })).toBe('wss://h:1/x')
    expect(socketUrl('/x', { protocol: 'http:', host: 'h' })).toBe('ws://h/x')
  })
})
