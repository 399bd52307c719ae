/** The line number a calendar error names (`第3行…`, `line 3…`), if any. */
export function badLine(message: string): number | null {
  const m = /第\s*(\d+)\s*行/.exec(message) ?? /\bline\s+(\d+)/i.exec(message)
  return m?.[1] ? Number(m[1]) : null
}
