// The console's one API client. A 401 anywhere sends the user to the login
// page (see router.ts), keeping the page they were on.
import { createClient } from './client'

type Listener = () => void
const unauthenticated = new Set<Listener>()

export const api = createClient({
  onUnauthenticated: () => unauthenticated.forEach((f) => f()),
})

export function onUnauthenticated(f: Listener): () => void {
  unauthenticated.add(f)
  return () => unauthenticated.delete(f)
}

export { ApiError } from './client'
export type * from './types'
