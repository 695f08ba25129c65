// Languages of the console. The choice is kept in localStorage; the first
// visit follows the browser.
import { createI18n } from 'vue-i18n'
import en from './en'
import zh from './zh'
import type { Lang } from '@/utils/format'

export const messages = { en, zh }
export const languages: { value: Lang; label: string }[] = [
  { value: 'zh', label: '中文' },
  { value: 'en', label: 'English' },
]

const storageKey = 'sluice.lang'

export function initialLang(stored: string | null, browser: string | undefined): Lang {
  if (stored === 'en' || stored === 'zh') return stored
  return browser?.toLowerCase().startsWith('zh') ? 'zh' : 'en'
}

export function createConsoleI18n() {
  const stored = typeof localStorage === 'undefined' ? null : localStorage.getItem(storageKey)
  const browser = typeof navigator === 'undefined' ? undefined : navigator.language
  return createI18n({
    legacy: false,
    locale: initialLang(stored, browser),
    fallbackLocale: 'en',
    messages,
  })
}

export function saveLang(lang: Lang) {
  localStorage.setItem(storageKey, lang)
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en'
}
