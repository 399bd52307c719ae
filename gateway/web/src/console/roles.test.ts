import { describe, expect, it } from 'vitest'
import { includes } from './session'

describe('roles', () => {
  it('follow the gateway: admin covers all, clerk covers verifier', () => {
    expect(includes('admin', 'clerk')).toBe(true)
    expect(includes('clerk', 'verifier')).toBe(true)
    expect(includes('clerk', 'admin')).toBe(false)
    expect(includes('verifier', 'clerk')).toBe(false)
  })
})
