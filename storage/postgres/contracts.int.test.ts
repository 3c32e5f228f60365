// The same contract suites as contracts.test.ts (PGlite) and the memory stores, against a real
// PostgreSQL: each store gets a fresh, migrated schema with a random name.
import { afterAll } from "vitest";
import { driverAssignmentsContract } from "../../engine/contracts/driver-assignments.contract.js";
import { driverStatsContract } from "../../engine/contracts/driver-stats.contract.js";
import { eventLogContract } from "../../engine/contracts/event-log.contract.js";
import { orderStoreContract } from "../../engine/contracts/order-store.contract.js";
import { serviceEnv } from "../../test/integration/services-env.js";
import { refreshTokenStoreContract, userStoreContract } from "../contracts/identity.contract.js";
import { PgDriverStats } from "./driver-stats.js";
import { PgDriverAssignments } from "./drivers.js";
import { PgEventLog } from "./events.js";
import { PgRefreshTokenStore, PgUserStore } from "./identity.js";
import { PgOrderStore } from "./orders.js";
import { PhoneCipher } from "./phone-crypto.js";
import { pgSchemas } from "./test-support.js";

const schemas = pgSchemas(serviceEnv("DATABASE_URL"));
afterAll(() => schemas.dropAll());
const phones = PhoneCipher.fromSecret(PhoneCipher.newSecret());

orderStoreContract("postgres", async () => new PgOrderStore(await schemas.fresh()));
driverAssignmentsContract("postgres", async () => new PgDriverAssignments(await schemas.fresh()));
eventLogContract("postgres", async () => new PgEventLog(await schemas.fresh()));
driverStatsContract("postgres", async () => new PgDriverStats(await schemas.fresh()));
userStoreContract("postgres", async () => new PgUserStore(await schemas.fresh(), phones));
refreshTokenStoreContract("postgres", async () => {
  const db = await schemas.fresh();
  return { users: new PgUserStore(db, phones), refreshTokens: new PgRefreshTokenStore(db) };
});
