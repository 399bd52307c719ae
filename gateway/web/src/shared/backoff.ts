/** The delay before reconnect attempt `n` (0-based): 0.5 s doubling to at most 5 s, with up to
 * 20 % jitter so twenty boards of a hall do not reconnect in one burst after a restart. */
export function backoff(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(5000, 500 * 2 ** Math.max(0, attempt))
  return Math.round(base * (1 + 0.2 * random()))
}

/** `ws://` or `wss://` for a path of this origin. */
export function socketUrl(path: string, loc: { protocol: string; host: string } = location): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}${path}`
}
