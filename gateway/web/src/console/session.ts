// Who is logged in, which hall and counter they work at. The token lives in sessionStorage:
// it dies with the tab, and a counter PC shared between shifts keeps nothing after closing.
import { reactive } from 'vue'
import { call, client, setToken, whenUnauthenticated, type Schemas } from '../shared/api'

const KEY = 'zsb.staff'

interface Saved {
  token: string
  me: Schemas['StaffMe']
  hallId: number | null
  counterId: number | null
}

export const session = reactive({
  me: null as Schemas['StaffMe'] | null,
  halls: [] as Schemas['HallSummary'][],
  hallId: null as number | null,
  counterId: null as number | null,
})

function save(token: string): void {
  if (!session.me) return
  const saved: Saved = { token, me: session.me, hallId: session.hallId, counterId: session.counterId }
  sessionStorage.setItem(KEY, JSON.stringify(saved))
}

let currentToken: string | null = null

export function persist(): void {
  if (currentToken) save(currentToken)
}

export function restore(): boolean {
  const raw = sessionStorage.getItem(KEY)
  if (!raw) return false
  try {
    const saved = JSON.parse(raw) as Saved
    currentToken = saved.token
    setToken(saved.token)
    session.me = saved.me
    session.hallId = saved.hallId
    session.counterId = saved.counterId
    return true
  } catch {
    return false
  }
}

export async function login(username: string, password: string): Promise<void> {
  const r = await call(client.POST('/staff/v1/auth/login', { body: { username, password } }))
  currentToken = r.token
  setToken(r.token)
  session.me = r.staff
  await loadHalls()
  save(r.token)
}

export async function loadHalls(): Promise<void> {
  const r = await call(client.GET('/staff/v1/halls'))
  session.halls = r.halls
  if (session.hallId === null || !r.halls.some((h) => h.id === session.hallId)) {
    session.hallId = r.halls[0]?.id ?? null
  }
}

export function logout(): void {
  void client.POST('/staff/v1/auth/logout').catch(() => undefined)
  clear()
}

function clear(): void {
  sessionStorage.removeItem(KEY)
  currentToken = null
  setToken(null)
  session.me = null
  session.halls = []
}

whenUnauthenticated(clear)

export function token(): string | null {
  return currentToken
}

/** As the gateway decides (services/src/staff/roles.rs): an admin may do everything, a clerk
 * also verifies licences. */
export function includes(held: Schemas['StaffRole'], needed: Schemas['StaffRole']): boolean {
  if (held === 'admin') return true
  if (held === 'clerk') return needed === 'clerk' || needed === 'verifier'
  return needed === 'verifier'
}

export function can(role: Schemas['StaffRole'], hallId: number | null): boolean {
  return (session.me?.roles ?? []).some(
    (g) => includes(g.role, role) && (g.hallId == null || g.hallId === hallId),
  )
}
