// The DriverProfileStore contract on embedded PGlite (the same suite runs on memory and on a real
// PostgreSQL in driver-profiles.int.test.ts), plus what only a database shows: licences at rest.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { driverProfileStoreContract } from "../contracts/driver-profiles.contract.js";
import { PgDriverProfileStore } from "./driver-profiles.js";
import { PgUserStore } from "./identity.js";
import { PhoneCipher } from "./phone-crypto.js";
import { sharedPglite } from "./test-support.js";

const pglite = sharedPglite();
beforeAll(() => pglite.fresh(), 60_000);
afterAll(() => pglite.close());
const cipher = PhoneCipher.fromSecret(PhoneCipher.newSecret());

driverProfileStoreContract("pglite", async () => {
  const db = await pglite.fresh();
  return { users: new PgUserStore(db, cipher), profiles: new PgDriverProfileStore(db, cipher) };
});

describe("licence numbers at rest", () => {
  it("are stored only encrypted, bound to their driver", async () => {
    const db = await pglite.fresh();
    const users = new PgUserStore(db, cipher);
    const profiles = new PgDriverProfileStore(db, cipher);
    const a = await users.findOrCreateByPhone("+15555550170", 1);
    const b = await users.findOrCreateByPhone("+15555550171", 1);
    await profiles.apply(a.id, { displayName: "A", licenseNumber: "DL-998877" }, 1);
    await profiles.apply(b.id, { displayName: "B", licenseNumber: "DL-112233" }, 1);
    const { rows } = await db.query<{ t: string }>("SELECT d::text AS t FROM drivers d");
    expect(rows.some((r) => r.t.includes("998877") || r.t.includes("112233"))).toBe(false);
    // A blob copied onto another driver's row does not decrypt there.
    await db.query(
      "UPDATE drivers SET license_enc = (SELECT license_enc FROM drivers WHERE id = $1) WHERE id = $2",
      [a.id, b.id],
    );
    await expect(profiles.get(b.id)).rejects.toMatchObject({ code: "INTERNAL" });
  });
});
