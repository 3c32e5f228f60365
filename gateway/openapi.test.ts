/** The OpenAPI document must describe exactly the routes of the access table, with their access. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { type Access, httpAccess } from "./access.js";

const doc = JSON.parse(readFileSync(new URL("../docs/openapi.json", import.meta.url), "utf8")) as {
  security: unknown[];
  paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>>;
};

const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
  Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ":$1")}`),
);

describe("docs/openapi.json", () => {
  it("lists every route of the access table and no other", () => {
    expect(documented.sort()).toEqual(Object.keys(httpAccess).sort());
  });

  it("marks public routes as needing no token and the others as bearer-protected", () => {
    for (const [route, access] of Object.entries(httpAccess) as [string, Access][]) {
      const [method, pattern] = route.split(" ") as [string, string];
      const op = doc.paths[pattern.replace(/:(\w+)/g, "{$1}")]![method.toLowerCase()]!;
      const security = op.security ?? doc.security;
      expect(security.length === 0, route).toBe(access === "public");
      if (access !== "public") expect(Object.keys(op.responses), route).toContain("401");
    }
  });
});
