import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compose, type Running } from "../cli/compose.js";
import { defaults } from "../cli/config.js";
import { silentLogger } from "../engine/logger.js";
import { SdkError } from "./driver.js";
import { RiderClient } from "./rider.js";

let running: Running;
beforeAll(async () => {
  running = await compose({ ...defaults, port: 0, dataDir: ":memory:" }, silentLogger);
}, 60_000);
afterAll(() => running?.close());

async function rider(phone: string) {
  const u = await running.users.findOrCreateByPhone(phone, Date.now());
  const token = (await running.tokens.startSession(u)).accessToken;
  return new RiderClient({ url: `http://127.0.0.1:${running.gateway.port}`, getToken: async () => token });
}

describe("RiderClient", () => {
  it("quotes, orders, watches the order live and sees its cancellation pushed", async () => {
    const client = await rider("+15550002222");
    const q = await client.quote({ lat: 41.88, lng: -87.63 }, { lat: 41.9, lng: -87.62 });
    const key = crypto.randomUUID();
    const order = await client.order(q.token as string, key);
    expect((await client.order(q.token as string, key)).id).toBe(order.id);
    await client.connect();
    expect(await client.watchOrder(order.id as string)).toMatchObject({ ok: true });
    const pushed = new Promise<Record<string, unknown>>((resolve) => client.on("order.update", resolve));
    await client.cancel(order.id as string);
    expect(await pushed).toMatchObject({ type: "order", order: { id: order.id, state: "cancelled" } });
    expect((await client.trips()).orders).toHaveLength(1);
    client.close();
  });

  it("applies to drive, registers a car, reads the profile; a retried cancel answers the same", async () => {
    const client = await rider("+15550004444");
    await expect(client.driverProfile()).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await client.applyToDrive({ displayName: "Sam", licenseNumber: "SDK-77001" })).toMatchObject({
      status: "pending",
    });
    const car = {
      plate: "SDK 1",
      make: "Kia",
      model: "Niro",
      color: "red",
      year: 2022,
      vehicleClass: "comfort",
    };
    expect(await client.setVehicle(car)).toMatchObject({ ...car, seats: 4 });
    expect(await client.driverProfile()).toMatchObject({ status: "pending", vehicle: { plate: "SDK 1" } });
    const q = await client.quote({ lat: 41.88, lng: -87.63 }, { lat: 41.9, lng: -87.62 });
    const order = await client.order(q.token as string);
    const key = crypto.randomUUID();
    const first = await client.cancel(order.id as string, key);
    expect(await client.cancel(order.id as string, key)).toEqual(first);
  });

  it("rejects with the server's code", async () => {
    const client = await rider("+15550003333");
    await expect(client.get("no-such-order")).rejects.toEqual(
      new SdkError("NOT_FOUND", "order no-such-order not found"),
    );
    await expect(client.quote({ lat: 99, lng: 0 }, { lat: 0, lng: 0 })).rejects.toMatchObject({
      code: "INVALID_COORDINATE",
    });
    await client.connect();
    await expect(client.watchOrder("someone-elses")).rejects.toMatchObject({ code: "NOT_FOUND" });
    client.close();
  });

  it("fails to connect with a bad token, with the code", async () => {
    const client = new RiderClient({
      url: `http://127.0.0.1:${running.gateway.port}`,
      getToken: async () => "bad",
    });
    await expect(client.connect()).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    client.close();
  });
});
