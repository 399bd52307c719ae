// The typed client of the gateway: every call is checked against the OpenAPI document's types
// (generated into miniprogram-api/ts by `npm run generate` there), so a route or field the
// gateway does not have is a type error here, not a 404 at the counter.
import createClient, { type Middleware } from 'openapi-fetch'
import type { components, paths } from '../../../../miniprogram-api/ts/src/generated/api'

export type Schemas = components['schemas']
export type Ticket = Schemas['Ticket']
export type BoardCall = Schemas['BoardCall']
export type Board = Schemas['Board']

/** An answer in the gateway's error shape: a stable code and the Chinese message to show. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: Record<string, string> = {},
  ) {
    super(message)
  }
}

/** The message to show for anything thrown by a call (network errors included). */
export function messageOf(e: unknown): string {
  if (e instanceof ApiFailure) return e.message
  if (e instanceof TypeError) return '网络连接失败，请检查网络后重试'
  return '操作失败，请稍后重试'
}

let token: string | null = null
let onUnauthenticated: () => void = () => {}

export function setToken(t: string | null): void {
  token = t
}
export function getToken(): string | null {
  return token
}
export function whenUnauthenticated(f: () => void): void {
  onUnauthenticated = f
}

const auth: Middleware = {
  onRequest({ request }) {
    if (token) request.headers.set('Authorization', `Bearer ${token}`)
    return request
  },
}

export const client = createClient<paths>({ baseUrl: '' })
client.use(auth)

interface ErrorShape {
  code?: string
  message?: string
  fields?: Record<string, string>
}

/** Unwraps an openapi-fetch answer: the data, or an [`ApiFailure`] with the Chinese message. */
export async function call<T>(
  p: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await p
  if (response.ok) return data as T
  const body = (error ?? {}) as ErrorShape
  if (response.status === 401) onUnauthenticated()
  throw new ApiFailure(
    response.status,
    body.code ?? 'UNEXPECTED',
    body.message ?? `请求失败（${response.status}）`,
    body.fields ?? {},
  )
}
