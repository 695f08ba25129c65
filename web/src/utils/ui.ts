// Small helpers shared by the pages: error messages, confirmations and the
// translation of API values.
import { ElMessage, ElMessageBox } from 'element-plus'
import type { Composer } from 'vue-i18n'
import { ApiError } from '@/api/client'

type T = Composer['t']

/** errorText is what a person reads for a failed call: the server's message, or ours for network and role errors. */
export function errorText(e: unknown, t: T, role?: string): string {
  if (e instanceof ApiError) {
    if (e.code === 'network') return t('error.network')
    if (e.code === 'permission_denied' && !e.message) return t('error.forbidden', { role: role ?? '' })
    return e.field && !e.message.includes(e.field) ? `${e.field}: ${e.message}` : e.message
  }
  return e instanceof Error ? e.message : String(e)
}

export function showError(e: unknown, t: T) {
  ElMessage({ type: 'error', message: errorText(e, t), showClose: true, duration: 6000 })
}

export function showDone(message: string) {
  ElMessage({ type: 'success', message })
}

/** confirm asks before a destructive action; it resolves true only on OK. */
export async function confirm(t: T, message: string, danger = true): Promise<boolean> {
  try {
    await ElMessageBox.confirm(message, t('common.confirmTitle'), {
      type: danger ? 'warning' : 'info',
      confirmButtonText: t('common.confirm'),
      cancelButtonText: t('common.cancel'),
      confirmButtonClass: danger ? 'el-button--danger' : undefined,
    })
    return true
  } catch {
    return false
  }
}
