import { describe, expect, it } from "vitest";
import { defaults, loadConfig } from "./config.js";

describe("config", () => {
  it("uses the defaults with an empty environment", () => {
    expect(loadConfig({}, {})).toEqual(defaults);
  });

  it("reads the mapped variables, flags over environment", () => {
    const c = loadConfig(
      { PORT: "9000" },
      { PORT: "1", HOST: "0.0.0.0", KAFKA_BROKERS: "127.0.0.1:19092, 127.0.0.1:19093", LOG_LEVEL: "debug" },
    );
    expect(c.port).toBe(9000);
    expect(c.host).toBe("0.0.0.0");
    expect(c.kafkaBrokers).toEqual(["127.0.0.1:19092", "127.0.0.1:19093"]);
    expect(c.logLevel).toBe("debug");
  });

  it("rejects bad values with one message naming every bad variable", () => {
    expect(() =>
      loadConfig({}, { PORT: "70000", REDIS_URL: "http://x", DATABASE_URL: "nope", DISPATCH_MODE: "prod" }),
    ).toThrowError(
      expect.objectContaining({
        code: "INVALID_CONFIG",
        message: expect.stringMatching(
          /DISPATCH_MODE="prod".*\n.*PORT="70000".*\n.*REDIS_URL.*\n.*DATABASE_URL/s,
        ),
      }),
    );
  });
});

describe("config cross-checks", () => {
  it("demands the token signing key files in production, and refuses the Firebase emulator there", () => {
    expect(() =>
      loadConfig({}, { DISPATCH_MODE: "production", FIREBASE_AUTH_EMULATOR_HOST: "127.0.0.1:9099" }),
    ).toThrow(/JWT_PRIVATE_KEY_FILE.*\n.*FIREBASE_AUTH_EMULATOR_HOST is refused/s);
    expect(() => loadConfig({}, { JWT_PRIVATE_KEY_FILE: "/k.pem" })).toThrow(/go together/);
    const c = loadConfig(
      {},
      { FIREBASE_PROJECT_ID: "demo-x", FIREBASE_AUTH_EMULATOR_HOST: "127.0.0.1:19099" },
    );
    expect(c.firebaseProjectId).toBe("demo-x");
  });
});

describe("README", () => {
  it("documents every environment variable the config reads", async () => {
    const { readFileSync } = await import("node:fs");
    const { envMap } = await import("./config.js");
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    for (const name of Object.keys(envMap)) expect(readme, name).toContain(`\`${name}\``);
  });
});
