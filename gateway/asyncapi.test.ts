/** The AsyncAPI document must list every message type a client may send on each socket. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { socketAccess } from "./access.js";

const doc = JSON.parse(readFileSync(new URL("../docs/asyncapi.json", import.meta.url), "utf8")) as {
  channels: Record<string, { messages: Record<string, { name: string }> }>;
};
const names = (channel: string) =>
  Object.values(doc.channels[channel]!.messages)
    .map((m) => m.name)
    .sort();

describe("docs/asyncapi.json", () => {
  it("documents every client message of every socket in the access table, and no other", () => {
    expect(names("driverIn")).toEqual(Object.keys(socketAccess.driver.messages).sort());
    expect(names("riderIn")).toEqual(Object.keys(socketAccess.rider.messages).sort());
    expect(names("adminIn")).toEqual(Object.keys(socketAccess.admin.messages).sort());
  });
});
