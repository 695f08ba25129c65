// Routes of the console. Pages load lazily so that ECharts is fetched only
// by the pages that draw charts. `meta.role` is the least role a page needs.
import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import type { Pinia } from 'pinia'
import { useAuth } from '@/stores/auth'
import { onUnauthenticated } from '@/api'
import type { Role } from '@/api/types'

declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean
    role?: Role
    title?: string
  }
}

export const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: () => import('@/views/LoginView.vue'), meta: { public: true } },
  {
    path: '/',
    component: () => import('@/components/AppLayout.vue'),
    children: [
      { path: '', name: 'dashboard', component: () => import('@/views/DashboardView.vue'), meta: { title: 'nav.dashboard' } },
      { path: 'data-sources', name: 'data-sources', component: () => import('@/views/DataSourcesView.vue'), meta: { title: 'nav.dataSources' } },
      { path: 'pipelines', name: 'pipelines', component: () => import('@/views/PipelinesView.vue'), meta: { title: 'nav.pipelines' } },
      { path: 'pipelines/new', name: 'pipeline-new', component: () => import('@/views/PipelineWizardView.vue'), meta: { title: 'nav.newPipeline', role: 'admin' } },
      { path: 'pipelines/:name', name: 'pipeline', component: () => import('@/views/PipelineDetailView.vue'), props: true, meta: { title: 'nav.pipelines' } },
      { path: 'pipelines/:name/edit', name: 'pipeline-edit', component: () => import('@/views/PipelineWizardView.vue'), props: true, meta: { title: 'pipeline.edit', role: 'admin' } },
      { path: 'channels', name: 'channels', component: () => import('@/views/ChannelsView.vue'), meta: { title: 'nav.channels' } },
      { path: 'checks', name: 'checks', component: () => import('@/views/ChecksView.vue'), meta: { title: 'nav.checks' } },
      { path: 'checks/:id', name: 'check', component: () => import('@/views/CheckDetailView.vue'), props: (r) => ({ id: Number(r.params.id) }), meta: { title: 'check.report' } },
      { path: 'jobs', name: 'jobs', component: () => import('@/views/JobsView.vue'), meta: { title: 'nav.jobs' } },
      { path: 'jobs/:id', name: 'job', component: () => import('@/views/JobDetailView.vue'), props: (r) => ({ id: Number(r.params.id) }), meta: { title: 'nav.jobs' } },
      { path: 'users', name: 'users', component: () => import('@/views/UsersView.vue'), meta: { title: 'nav.users', role: 'admin' } },
      { path: 'alerts', name: 'alerts', component: () => import('@/views/AlertsView.vue'), meta: { title: 'nav.alerts' } },
      { path: 'account', name: 'account', component: () => import('@/views/AccountView.vue'), meta: { title: 'nav.account' } },
      { path: ':rest(.*)*', name: 'not-found', component: () => import('@/views/NotFoundView.vue') },
    ],
  },
]

export function createConsoleRouter(pinia: Pinia) {
  const router = createRouter({ history: createWebHistory('/'), routes })
  router.beforeEach(async (to) => {
    const auth = useAuth(pinia)
    if (!auth.checked) await auth.load().catch(() => null)
    if (to.meta.public) return auth.me && to.name === 'login' ? { path: (to.query.next as string) || '/' } : true
    if (!auth.me) return { name: 'login', query: to.fullPath === '/' ? {} : { next: to.fullPath } }
    if (to.meta.role && !auth.can(to.meta.role)) return { name: 'dashboard' }
    return true
  })
  onUnauthenticated(() => {
    const auth = useAuth(pinia)
    auth.me = null
    const cur = router.currentRoute.value
    if (!cur.meta.public) router.replace({ name: 'login', query: { next: cur.fullPath } })
  })
  return router
}
