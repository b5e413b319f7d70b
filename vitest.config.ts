import { defineConfig } from "vitest/config";

// Tests live under test/, mirroring src/. Long sweeps keep to small images so the whole suite stays
// within about ten minutes on a 2-core machine.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
