// Two pages, one build: the staff console (/console/) and the hall display board
// (/board/{hallCode}). Output goes to dist/, which is committed and embedded in the gateway
// binary by gateway/build.rs; `.ci/web` rebuilds it from a clean `npm ci` and fails on any diff,
// so the build must be deterministic (no timestamps, hashed names from content only).
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'
import type { Plugin } from 'vite'
import vue from '@vitejs/plugin-vue'

const page = (p: string) => fileURLToPath(new URL(p, import.meta.url))

/**
 * jsQR (the camera scan where the browser has no BarcodeDetector) without its Shift_JIS table:
 * 7 000 entries, some 90 KB of its 130 KB, used only to decode a QR code's Kanji mode, which no
 * code the console reads uses (booking codes and licence payloads are ASCII; a Kanji-mode code
 * reads as garbage and the gateway refuses it with its Chinese message). Fails the build if a
 * new jsQR no longer has the table where this expects it.
 */
function jsqrWithoutKanji(): Plugin {
  const marker = 'exports.shiftJISTable = {'
  return {
    name: 'zsb:jsqr-without-kanji',
    enforce: 'pre',
    transform(code, id) {
      if (!/[\\/]jsqr[\\/]dist[\\/]jsQR\.js$/.test(id.split('?')[0] ?? '')) return null
      const start = code.indexOf(marker)
      const end = start < 0 ? -1 : code.indexOf('\n};', start)
      if (start < 0 || end < 0) this.error('jsQR changed: its Shift_JIS table is not where vite.config.ts expects it')
      return { code: `${code.slice(0, start)}exports.shiftJISTable = {};${code.slice(end + 3)}`, map: null }
    },
  }
}

export default defineConfig({
  base: '/',
  plugins: [vue({ features: { optionsAPI: false } }), jsqrWithoutKanji()],
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
