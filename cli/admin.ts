/**
 * Operator commands that work on the database directly: `dispatch migrate` and
 * `dispatch grant-role <phone> <role>` (how the first admin is made). With the embedded
 * database (no DATABASE_URL) only one process may open DATA_DIR: run them while `serve` is
 * stopped.
 */
import { DispatchError, ErrorCode } from "../engine/errors.js";
import { type Role, roles } from "../engine/identity.js";
import type { Logger } from "../engine/logger.js";
import { parsePhone } from "../gateway/auth/phone.js";
import { migrateDatabase, openStorage } from "../storage/factory.js";
import type { Config } from "./config.js";

function storageConfig(config: Config, logger: Logger) {
  return {
    ...(config.databaseUrl === undefined ? { dataDir: config.dataDir } : { databaseUrl: config.databaseUrl }),
    ...(config.phoneSecret === undefined ? {} : { phoneSecret: config.phoneSecret }),
    ...(config.databaseSchema === undefined ? {} : { databaseSchema: config.databaseSchema }),
    log: logger,
  };
}

/** Applies pending migrations; resolves with the files it ran. */
export function migrateCommand(config: Config, logger: Logger): Promise<string[]> {
  return migrateDatabase(storageConfig(config, logger));
}

/** Grants a role to the user with this phone, creating the user if needed; returns their roles. */
export async function grantRoleCommand(
  config: Config,
  logger: Logger,
  phone: unknown,
  role: unknown,
): Promise<{ id: string; roles: Role[] }> {
  const valid = parsePhone(phone);
  if (typeof role !== "string" || !roles.includes(role as Role)) {
    throw new DispatchError(ErrorCode.InvalidArgument, `role must be one of ${roles.join(", ")}`);
  }
  const storage = await openStorage(storageConfig(config, logger));
  try {
    const user = await storage.users.findOrCreateByPhone(valid, Date.now());
    const updated = await storage.users.grantRole(user.id, role as Role);
    return { id: user.id, roles: updated?.roles ?? user.roles };
  } finally {
    await storage.close();
  }
}
