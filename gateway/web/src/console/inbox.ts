// The staff inbox (alerts for a hall's administrators, today the 差评 rectifications past a
// deadline): one shared state, so the header's badge and the 差评 desk agree.
import { reactive } from 'vue'
import { call, client, type Schemas } from '../shared/api'

export const inbox = reactive({ unread: 0, entries: [] as Schemas['InboxEntry'][] })

export async function refreshInbox(): Promise<void> {
  const r = await call(client.GET('/staff/v1/inbox', { params: { query: {} } }))
  inbox.unread = r.unread
  inbox.entries = r.entries
}

export async function markRead(id: number): Promise<void> {
  await call(client.POST('/staff/v1/inbox/{id}/read', { params: { path: { id } } }))
  await refreshInbox()
}
