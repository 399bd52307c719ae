// The 差评 desk's own logic, kept out of the component so Vitest can hold it: which step a
// ticket is at, which actions it offers, and how its deadline reads.

export type RectificationStatus = 'OPEN' | 'CONTACTED' | 'RECTIFIED'
export type Step = 'contact' | 'rectify'

/** The status as the desk says it. */
export function statusLabel(status: RectificationStatus): string {
  switch (status) {
    case 'OPEN':
      return '待回访'
    case 'CONTACTED':
      return '已回访，待整改'
    case 'RECTIFIED':
      return '已整改'
  }
}

/** The steps a ticket still offers: a contact (回访) only before it, a rectification until done. */
export function stepsFor(status: RectificationStatus): Step[] {
  switch (status) {
    case 'OPEN':
      return ['contact', 'rectify']
    case 'CONTACTED':
      return ['rectify']
    case 'RECTIFIED':
      return []
  }
}

export const STEP_LABELS: Record<Step, string> = { contact: '记录回访', rectify: '记录整改' }

/** The deadline that matters now: the contact's while not contacted, then the rectification's. */
export function dueOf(r: {
  status: RectificationStatus
  contactDueDate: string
  rectifyDueDate: string
}): { label: string; date: string } | null {
  if (r.status === 'OPEN') return { label: '回访期限', date: r.contactDueDate }
  if (r.status === 'CONTACTED') return { label: '整改期限', date: r.rectifyDueDate }
  return null
}

/** The badge's text: nothing at 0, the count up to 99, then 99+. */
export function badgeText(unread: number): string {
  if (unread <= 0) return ''
  return unread > 99 ? '99+' : String(unread)
}
