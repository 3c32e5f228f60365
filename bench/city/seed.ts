/**
 * Driver accounts for the city bench. The gateway admits a driver socket only for a user who
 * exists and still holds the driver role, so before `dispatch serve` starts, the bench creates
 * its drivers in the embedded database that serve will open (its DATA_DIR), through the storage
 * factory and the UserStore port, as `dispatch grant-role` would one by one.
 *
 * That costs about 10 ms a driver on the embedded PGlite, so the seeded database is kept as a
 * template under .data/bench-city/ (git-ignored) and copied for each run; a larger run extends it.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openStorage } from "../../storage/factory.js";

/** E.164 phone of bench driver `n` (a Chicago area code, as the simulator's drivers). */
export function driverPhone(n: number): string {
  return `+1312${String(n % 10_000_000).padStart(7, "0")}`;
}

/** Creates drivers `from`..`count - 1` in the embedded database at `dataDir`; their user ids in order. */
export async function seedDrivers(
  dataDir: string,
  from: number,
  count: number,
  concurrency = 8,
): Promise<string[]> {
  const storage = await openStorage({ dataDir });
  try {
    const ids = new Array<string>(Math.max(0, count - from));
    let next = from;
    const worker = async () => {
      for (;;) {
        const n = next++;
        if (n >= count) return;
        const u = await storage.users.findOrCreateByPhone(driverPhone(n), Date.now());
        const d = u.roles.includes("driver") ? u : await storage.users.grantRole(u.id, "driver");
        if (!d) throw new Error(`bench driver ${n} vanished while seeding`);
        ids[n - from] = d.id;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return ids;
  } finally {
    await storage.close();
  }
}

/**
 * A fresh DATA_DIR at `runDir` holding at least `count` bench drivers (copied from the template,
 * which is seeded or extended first when it holds fewer). Returns the driver user ids, in order.
 */
export async function preparedDataDir(
  templateRoot: string,
  runDir: string,
  count: number,
  log: (line: string) => void,
): Promise<string[]> {
  const db = join(templateRoot, "pglite");
  const idsFile = join(templateRoot, "driver-ids.json");
  let ids: string[] =
    existsSync(idsFile) && existsSync(db) ? (JSON.parse(readFileSync(idsFile, "utf8")) as string[]) : [];
  if (ids.length < count) {
    if (ids.length === 0) rmSync(templateRoot, { recursive: true, force: true });
    mkdirSync(templateRoot, { recursive: true });
    log(`seeding bench drivers ${ids.length}..${count - 1} into ${db} (once; about 10 ms each)`);
    const t = performance.now();
    ids = [...ids, ...(await seedDrivers(db, ids.length, count))];
    writeFileSync(idsFile, `${JSON.stringify(ids)}\n`);
    log(`seeded in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  }
  cpSync(db, runDir, { recursive: true });
  return ids.slice(0, count);
}
