import { defineConfig } from "vitest/config";

// Two projects: `unit` needs nothing but the built addon; `integration` needs the real services
// that scripts/services.sh starts (their URLs come in through the environment).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["**/*.test.ts"],
          exclude: ["**/*.int.test.ts", "node_modules/**", "dist/**"],
          environment: "node",
          // Tests start real servers and child processes; the default 5 s is short on a loaded 2-core machine.
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["**/*.int.test.ts"],
          exclude: ["node_modules/**", "dist/**"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
