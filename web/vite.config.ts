/// <reference types="vitest/config" />
import { fileURLToPath, URL } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// The console is served by the sluice binary at "/"; `npm run dev` proxies the
// API to a local `sluice server` (SLUICE_URL, default http://127.0.0.1:8440).
const api = process.env.SLUICE_URL ?? 'http://127.0.0.1:8440'

export default defineConfig({
  plugins: [vue()],
  base: '/',
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  server: {
    proxy: {
      '/api': { target: api, changeOrigin: false },
      '/openapi.yaml': api,
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Element Plus and ECharts are large; pages load lazily, so one big
    // vendor chunk is expected.
    chunkSizeWarningLimit: 2500,
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
})
