/** The `n` days ending with `end` (Asia/Shanghai), oldest first, as `YYYY-MM-DD`. */
export function lastDays(end: Date, n: number): string[] {
  const out: string[] = []
  for (let i = n - 1; i >= 0; i--) {
    const d = new Date(end.getTime() - i * 86_400_000)
    out.push(d.toLocaleDateString('sv-SE', { timeZone: 'Asia/Shanghai' }))
  }
  return out
}

/** Seconds as minutes with one decimal; null stays null. */
export function minutes(secs: number | null | undefined): number | null {
  return secs == null ? null : Math.round(secs / 6) / 10
}
