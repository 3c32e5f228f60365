/**
 * The DriverProfileStore contract (engine/driver-profiles.ts), one suite run against memory,
 * PGlite and PostgreSQL through a factory per implementation (STYLE 7). Profiles belong to real
 * users (the databases insist), made through the same factory's UserStore.
 */
import { describe, expect, it } from "vitest";
import type { DriverProfileStore, VehicleInput } from "../../engine/driver-profiles.js";
import type { UserStore } from "../../engine/identity.js";

export interface ProfileStores {
  readonly users: UserStore;
  readonly profiles: DriverProfileStore;
}

let seq = 0;
function newPhone(): string {
  seq++;
  return `+1666${String(Date.now() % 1_000_000).padStart(6, "0")}${String(seq % 10_000).padStart(4, "0")}`.slice(
    0,
    16,
  );
}

const car = (plate: string, overrides: Partial<VehicleInput> = {}): VehicleInput => ({
  plate,
  make: "Toyota",
  model: "Prius",
  color: "white",
  year: 2021,
  vehicleClass: "economy",
  seats: 4,
  ...overrides,
});

export function driverProfileStoreContract(
  name: string,
  make: () => Promise<ProfileStores> | ProfileStores,
): void {
  describe(`DriverProfileStore contract: ${name}`, () => {
    const user = async (s: ProfileStores) => (await s.users.findOrCreateByPhone(newPhone(), 1)).id;
    const uniq = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`.toUpperCase();

    it("creates a pending profile, reads it back, and knows nothing of others", async () => {
      const s = await make();
      const id = await user(s);
      const lic = `B-${uniq()}`;
      const r = await s.profiles.apply(id, { displayName: "Dana", licenseNumber: lic }, 1_000);
      const want = {
        driverId: id,
        displayName: "Dana",
        licenseNumber: lic,
        status: "pending",
        reason: null,
        reviewedBy: null,
        reviewedAt: null,
        createdAt: 1_000,
        updatedAt: 1_000,
        vehicle: null,
      };
      expect(r).toEqual({ status: "saved", profile: want });
      expect(await s.profiles.get(id)).toEqual(want);
      expect(await s.profiles.get(await user(s))).toBeUndefined();
    });

    it("updates a pending or rejected profile back to pending, keeping createdAt", async () => {
      const s = await make();
      const id = await user(s);
      const admin = await user(s);
      const lic = `B-${uniq()}`;
      await s.profiles.apply(id, { displayName: "Dana", licenseNumber: lic }, 1_000);
      await s.profiles.review(
        id,
        { from: ["pending"], to: "rejected", reason: "blurry", reviewerId: admin },
        2_000,
      );
      const r = await s.profiles.apply(id, { displayName: "Dana K", licenseNumber: `${lic}9` }, 3_000);
      expect(r).toMatchObject({
        status: "saved",
        profile: {
          displayName: "Dana K",
          licenseNumber: `${lic}9`,
          status: "pending",
          reason: null,
          reviewedBy: null,
          reviewedAt: null,
          createdAt: 1_000,
          updatedAt: 3_000,
        },
      });
    });

    it("leaves approved and suspended profiles alone (locked)", async () => {
      const s = await make();
      const id = await user(s);
      const admin = await user(s);
      const lic = `B-${uniq()}`;
      await s.profiles.apply(id, { displayName: "Dana", licenseNumber: lic }, 1_000);
      await s.profiles.review(
        id,
        { from: ["pending"], to: "approved", reason: null, reviewerId: admin },
        2_000,
      );
      const r = await s.profiles.apply(id, { displayName: "Other", licenseNumber: lic }, 3_000);
      expect(r).toMatchObject({ status: "locked", profile: { displayName: "Dana", status: "approved" } });
      await s.profiles.review(
        id,
        { from: ["approved"], to: "suspended", reason: "x", reviewerId: admin },
        4_000,
      );
      expect(await s.profiles.apply(id, { displayName: "Other", licenseNumber: lic }, 5_000)).toMatchObject({
        status: "locked",
        profile: { status: "suspended", reason: "x" },
      });
    });

    it("refuses a licence number another user holds, in any spelling", async () => {
      const s = await make();
      const a = await user(s);
      const b = await user(s);
      const lic = uniq();
      await s.profiles.apply(a, { displayName: "A", licenseNumber: `X-${lic}` }, 1);
      expect(await s.profiles.apply(b, { displayName: "B", licenseNumber: `X ${lic}` }, 2)).toEqual({
        status: "license_taken",
      });
      expect(await s.profiles.get(b)).toBeUndefined();
      // The holder may re-submit their own.
      expect((await s.profiles.apply(a, { displayName: "A2", licenseNumber: `X${lic}` }, 3)).status).toBe(
        "saved",
      );
    });

    it("reviews by compare-and-set on the status", async () => {
      const s = await make();
      const id = await user(s);
      const admin = await user(s);
      await s.profiles.apply(id, { displayName: "D", licenseNumber: `L-${uniq()}` }, 1);
      const ok = await s.profiles.review(
        id,
        { from: ["pending"], to: "approved", reason: null, reviewerId: admin },
        50,
      );
      expect(ok).toMatchObject({
        status: "updated",
        profile: { status: "approved", reviewedBy: admin, reviewedAt: 50, updatedAt: 50, reason: null },
      });
      const stale = await s.profiles.review(
        id,
        { from: ["pending"], to: "rejected", reason: "no", reviewerId: admin },
        60,
      );
      expect(stale).toMatchObject({ status: "wrong_state", profile: { status: "approved", reviewedAt: 50 } });
      expect(
        await s.profiles.review(
          await user(s),
          { from: ["pending"], to: "approved", reason: null, reviewerId: admin },
          1,
        ),
      ).toEqual({ status: "not_found" });
    });

    it("of concurrent reviews from one status exactly one wins", async () => {
      const s = await make();
      const id = await user(s);
      const admin = await user(s);
      await s.profiles.apply(id, { displayName: "D", licenseNumber: `L-${uniq()}` }, 1);
      const results = await Promise.all(
        (["approved", "rejected", "approved", "rejected"] as const).map((to, i) =>
          s.profiles.review(id, { from: ["pending"], to, reason: "r", reviewerId: admin }, 10 + i),
        ),
      );
      expect(results.filter((r) => r.status === "updated")).toHaveLength(1);
    });

    it("keeps one active vehicle per driver and re-activates a plate the driver used before", async () => {
      const s = await make();
      const id = await user(s);
      expect(await s.profiles.setVehicle(id, car(`P${uniq()}`), 1)).toEqual({ status: "no_profile" });
      await s.profiles.apply(id, { displayName: "D", licenseNumber: `L-${uniq()}` }, 1);
      const p1 = `P1${uniq()}`.slice(0, 15);
      const p2 = `P2${uniq()}`.slice(0, 15);
      const first = await s.profiles.setVehicle(id, car(p1), 10);
      expect(first).toEqual({
        status: "saved",
        vehicle: { id: expect.any(String), createdAt: 10, ...car(p1) },
      });
      const second = await s.profiles.setVehicle(id, car(p2, { make: "Skoda", seats: 5 }), 20);
      expect((await s.profiles.get(id))?.vehicle).toEqual(second.status === "saved" ? second.vehicle : null);
      const back = await s.profiles.setVehicle(id, car(p1, { color: "blue" }), 30);
      expect(back).toEqual({
        status: "saved",
        vehicle: {
          id: first.status === "saved" ? first.vehicle.id : "",
          createdAt: 10,
          ...car(p1, { color: "blue" }),
        },
      });
      expect((await s.profiles.get(id))?.vehicle?.plate).toBe(p1);
    });

    it("refuses another driver's plate", async () => {
      const s = await make();
      const a = await user(s);
      const b = await user(s);
      await s.profiles.apply(a, { displayName: "A", licenseNumber: `L-${uniq()}` }, 1);
      await s.profiles.apply(b, { displayName: "B", licenseNumber: `M-${uniq()}` }, 1);
      const plate = `Q${uniq()}`.slice(0, 15);
      expect((await s.profiles.setVehicle(a, car(plate), 1)).status).toBe("saved");
      expect(await s.profiles.setVehicle(b, car(plate), 2)).toEqual({ status: "plate_taken" });
      expect((await s.profiles.get(b))?.vehicle).toBeNull();
    });

    it("lists oldest first by status, paged after a cursor", async () => {
      const s = await make();
      const admin = await user(s);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const id = await user(s);
        ids.push(id);
        await s.profiles.apply(id, { displayName: `D${i}`, licenseNumber: `L-${uniq()}${i}` }, 100 + i);
      }
      await s.profiles.review(
        ids[1]!,
        { from: ["pending"], to: "approved", reason: null, reviewerId: admin },
        200,
      );
      const p1 = await s.profiles.list({ status: "pending", limit: 2 });
      expect(p1.profiles.map((p) => p.driverId)).toEqual([ids[0], ids[2]]);
      expect(p1.next).toEqual({ createdAt: 102, driverId: ids[2] });
      const p2 = await s.profiles.list({ status: "pending", limit: 2, after: p1.next! });
      expect(p2.profiles.map((p) => p.driverId)).toEqual([ids[3], ids[4]]);
      const p3 = await s.profiles.list({ status: "pending", limit: 2, after: p2.next! });
      expect(p3).toEqual({ profiles: [], next: null });
      const all = await s.profiles.list({ limit: 10 });
      expect(all.profiles.map((p) => p.driverId)).toEqual(ids);
      expect(all.next).toBeNull();
      expect(
        (await s.profiles.list({ status: "approved", limit: 10 })).profiles.map((p) => p.driverId),
      ).toEqual([ids[1]]);
    });

    it("hands out copies", async () => {
      const s = await make();
      const id = await user(s);
      const r = await s.profiles.apply(id, { displayName: "D", licenseNumber: `L-${uniq()}` }, 1);
      if (r.status === "saved") {
        try {
          (r.profile as { displayName: string }).displayName = "changed";
        } catch {
          // frozen is fine too
        }
      }
      expect((await s.profiles.get(id))?.displayName).toBe("D");
    });
  });
}
