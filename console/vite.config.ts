import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * Builds the web console (SPEC C3) into `console/dist`, which the API process serves at `/`.
 * `vite build console` or `vite build --config console/vite.config.ts` from the repository root.
 * In development (`vite console`), `/api` is proxied to FULCRUM_API (default http://127.0.0.1:8080).
 */
const root = fileURLToPath(new URL('.', import.meta.url));

export const config = defineConfig({
  root,
  base: './',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: { '/api': { target: process.env.FULCRUM_API ?? 'http://127.0.0.1:8080', changeOrigin: false } },
  },
});

export default config;
