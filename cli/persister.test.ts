// `dispatch persister` without Kafka: a coded refusal, not a crash; and its help.
import { afterEach, describe, expect, it } from "vitest";
import { dispatchEmbedded as dispatch, killChildren } from "../test/support/processes.js";

afterEach(killChildren);

describe("dispatch persister", () => {
  it("refuses to run without KAFKA_BROKERS, with a coded message", async () => {
    const run = dispatch(["persister"]);
    expect(await run.exited).toBe(1);
    expect(run.err()).toMatch(/INVALID_CONFIG: dispatch persister needs KAFKA_BROKERS/);
  });

  it("is in the help, with its variables", async () => {
    const run = dispatch(["--help"]);
    expect(await run.exited).toBe(0);
    expect(run.out()).toMatch(/persister\s+Write the Kafka pipeline topics/);
    expect(run.out()).toMatch(/PERSISTER_IN_PROCESS/);
  });

  it("refuses a bad PERSISTER_IN_PROCESS", async () => {
    const run = dispatch(["persister"], { PERSISTER_IN_PROCESS: "maybe" });
    expect(await run.exited).toBe(1);
    expect(run.err()).toMatch(/INVALID_CONFIG: .*PERSISTER_IN_PROCESS="maybe"/s);
  });
});
