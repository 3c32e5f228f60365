// The DriverProfileStore contract against a real PostgreSQL: a fresh migrated schema per store.
import { afterAll } from "vitest";
import { serviceEnv } from "../../test/integration/services-env.js";
import { driverProfileStoreContract } from "../contracts/driver-profiles.contract.js";
import { PgDriverProfileStore } from "./driver-profiles.js";
import { PgUserStore } from "./identity.js";
import { PhoneCipher } from "./phone-crypto.js";
import { pgSchemas } from "./test-support.js";

const schemas = pgSchemas(serviceEnv("DATABASE_URL"));
afterAll(() => schemas.dropAll());
const cipher = PhoneCipher.fromSecret(PhoneCipher.newSecret());

driverProfileStoreContract("postgres", async () => {
  const db = await schemas.fresh();
  return { users: new PgUserStore(db, cipher), profiles: new PgDriverProfileStore(db, cipher) };
});
