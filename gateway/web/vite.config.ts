// Two pages, one build: the staff console (/console/) and the hall display board
// (/board/{hallCode}). Output goes to dist/, which is committed and embedded in the gateway
// binary by gateway/build.rs; `.ci/web` rebuilds it from a clean `npm ci` and fails on any diff,
// so the build must be deterministic (no timestamps, hashed names from content only).
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'
import vue from '@vitejs/plugin-vue'

const page = (p: string) => fileURLToPath(new URL(p, import.meta.url))

export default defineConfig({
  base: '/',
  plugins: [vue()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // No inline scripts anywhere (CSP script-src 'self'): Vite's module preload polyfill would
    // be inlined, and every target browser supports modulepreload.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1200,
    rollupOptions: {
      input: {
        console: page('./console/index.html'),
        board: page('./board/index.html'),
      },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
})
