// Which calls the board reads out. Every call and recall carries a `callId` (the id of the
// ticket event that recorded it, increasing across the hall), so the rule is one comparison:
// announce a call whose id is above the highest already announced, never one at or below it.
// After a reconnect the snapshot's calls are shown, and only those newer than the last
// announced and made within `freshMs` are read out (a call made during a short cut is still
// heard; the morning's calls after a night-long outage are not).
import type { BoardCall } from '../shared/api'

export class CallLedger {
  private highest = -1

  constructor(private readonly freshMs = 60_000) {}

  /** A live `call` frame: whether to announce it. */
  live(call: BoardCall): boolean {
    if (call.callId <= this.highest) return false
    this.highest = call.callId
    return true
  }

  /** A snapshot (on connecting and on each reconnect): the calls to announce, oldest first. On
   * the very first snapshot nothing is read out: those calls were made before the board opened. */
  snapshot(calls: BoardCall[], now: number): BoardCall[] {
    const first = this.highest < 0
    const newer = calls
      .filter((c) => c.callId > this.highest)
      .sort((a, b) => a.callId - b.callId)
    const top = Math.max(this.highest, ...calls.map((c) => c.callId))
    this.highest = top
    if (first) {
      // Nothing announced yet: remember where the board starts, read out nothing old.
      return []
    }
    return newer.filter((c) => now - Date.parse(c.at) <= this.freshMs)
  }
}

/** Newest first, at most `keep`, one row per call id. */
export function merge(shown: BoardCall[], call: BoardCall, keep = 10): BoardCall[] {
  return [call, ...shown.filter((c) => c.callId !== call.callId)]
    .sort((a, b) => b.callId - a.callId)
    .slice(0, keep)
}
