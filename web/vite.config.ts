import { defineConfig } from "vite";

// The console is built into internal/console/dist/app, which nuxarid
// embeds and serves at its root URL.
export default defineConfig({
  base: "./",
  build: {
    outDir: "../internal/console/dist/app",
    emptyOutDir: true,
    assetsInlineLimit: 0, // everything from 'self': the CSP allows no data: scripts or styles
    sourcemap: false,
    target: "es2022",
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
