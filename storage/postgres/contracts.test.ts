// The engine's and the identity ports' contract suites against the repositories on embedded
// PGlite: the same SQL and the same assertions as PostgreSQL (contracts.int.test.ts) and memory.
import { afterAll, beforeAll } from "vitest";
import { driverAssignmentsContract } from "../../engine/contracts/driver-assignments.contract.js";
import { driverStatsContract } from "../../engine/contracts/driver-stats.contract.js";
import { eventLogContract } from "../../engine/contracts/event-log.contract.js";
import { orderStoreContract } from "../../engine/contracts/order-store.contract.js";
import { refreshTokenStoreContract, userStoreContract } from "../contracts/identity.contract.js";
import { PgDriverStats } from "./driver-stats.js";
import { PgDriverAssignments } from "./drivers.js";
import { PgEventLog } from "./events.js";
import { PgRefreshTokenStore, PgUserStore } from "./identity.js";
import { PgOrderStore } from "./orders.js";
import { PhoneCipher } from "./phone-crypto.js";
import { sharedPglite } from "./test-support.js";

const pglite = sharedPglite();
// Opening PGlite takes seconds when test files run in parallel: not inside a test's time limit.
beforeAll(() => pglite.fresh(), 60_000);
afterAll(() => pglite.close());
const phones = PhoneCipher.fromSecret(PhoneCipher.newSecret());

orderStoreContract("pglite", async () => new PgOrderStore(await pglite.fresh()));
driverAssignmentsContract("pglite", async () => new PgDriverAssignments(await pglite.fresh()));
eventLogContract("pglite", async () => new PgEventLog(await pglite.fresh()));
driverStatsContract("pglite", async () => new PgDriverStats(await pglite.fresh()));
userStoreContract("pglite", async () => new PgUserStore(await pglite.fresh(), phones));
refreshTokenStoreContract("pglite", async () => {
  const db = await pglite.fresh();
  return { users: new PgUserStore(db, phones), refreshTokens: new PgRefreshTokenStore(db) };
});
