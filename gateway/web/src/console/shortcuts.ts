// The counter's keyboard: one key per action, shown on its button. Single keys (not F-keys,
// which the browser owns, nor Alt+letter, which Chrome takes for its menus), active whenever
// the focus is not in a text field; Escape leaves a field.
import type { Ticket } from '../shared/api'

export type Action = 'callNext' | 'recall' | 'serve' | 'done' | 'noShow' | 'transfer'

export const KEYS: Record<Action, string> = {
  callNext: 'N',
  recall: 'R',
  serve: 'S',
  done: 'D',
  noShow: 'X',
  transfer: 'T',
}

export const LABELS: Record<Action, string> = {
  callNext: '叫号',
  recall: '重呼',
  serve: '开始办理',
  done: '办结',
  noShow: '过号',
  transfer: '转移',
}

/** Which actions the counter offers with the ticket it holds (none: only calling the next). */
export function allowed(ticket: Pick<Ticket, 'state' | 'calls'> | null | undefined): Set<Action> {
  if (!ticket) return new Set(['callNext'])
  switch (ticket.state) {
    case 'CALLED':
      return new Set<Action>(
        ticket.calls < 3 ? ['recall', 'serve', 'noShow', 'transfer'] : ['serve', 'noShow', 'transfer'],
      )
    case 'SERVING':
      return new Set<Action>(['done', 'transfer'])
    default:
      return new Set(['callNext'])
  }
}

interface KeyLike {
  key: string
  altKey: boolean
  ctrlKey: boolean
  metaKey: boolean
  repeat?: boolean
}

/** The action a key press asks for, if it is one and the focus is not in a text field. */
export function actionFor(e: KeyLike, inTextField: boolean): Action | null {
  if (inTextField || e.altKey || e.ctrlKey || e.metaKey || e.repeat) return null
  const key = e.key.toUpperCase()
  for (const [action, k] of Object.entries(KEYS) as [Action, string][]) {
    if (k === key) return action
  }
  return null
}
