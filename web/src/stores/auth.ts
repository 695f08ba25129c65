// Who is logged in, and what their role allows.
import { defineStore } from 'pinia'
import { api, ApiError } from '@/api'
import type { Me, Role } from '@/api/types'

const rank: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 }

/** allows reports whether a caller with role `have` may use a route needing `need`. */
export function allows(have: Role | undefined, need: Role): boolean {
  return have !== undefined && rank[have] >= rank[need]
}

export const useAuth = defineStore('auth', {
  state: () => ({ me: null as Me | null, checked: false }),
  getters: {
    role: (s): Role | undefined => s.me?.role,
    username: (s) => s.me?.user.username ?? '',
  },
  actions: {
    can(need: Role) {
      return allows(this.me?.role, need)
    },
    async load() {
      try {
        this.me = await api.me()
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 401) throw e
        this.me = null
      } finally {
        this.checked = true
      }
      return this.me
    },
    async login(username: string, password: string) {
      this.me = await api.login({ username, password })
      this.checked = true
    },
    async logout() {
      try {
        await api.logout()
      } finally {
        this.me = null
      }
    },
  },
})
