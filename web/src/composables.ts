// Composables shared by the pages.
import { ref, type Ref } from 'vue'
import { useI18n } from 'vue-i18n'
import { showError } from '@/utils/ui'
import type { Lang } from '@/utils/format'

/** useLoader runs a fetch, tracks loading and reports a failure once. */
export function useLoader<T>(fetch: () => Promise<T>, initial: T): { data: Ref<T>; loading: Ref<boolean>; load: () => Promise<void> } {
  const { t } = useI18n()
  const data = ref(initial) as Ref<T>
  const loading = ref(false)
  const load = async () => {
    loading.value = true
    try {
      data.value = await fetch()
    } catch (e) {
      showError(e, t)
    } finally {
      loading.value = false
    }
  }
  return { data, loading, load }
}

/** useLang is the current language as the formatters take it. */
export function useLang(): () => Lang {
  const { locale } = useI18n()
  return () => (locale.value === 'zh' ? 'zh' : 'en')
}
