/** Signed-in users for tests that drive a composed engine directly, without the login routes. */

import type { Running } from "../../cli/compose.js";
import type { Role } from "../../engine/identity.js";

/** A random US test number (+1555...): a fresh user on shared databases. */
export function randomPhone(): string {
  return `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;
}

/** Finds or creates the user with `phone`, grants `roles`, and starts a session for it. */
export async function signIn(
  engine: Pick<Running, "users" | "tokens">,
  phone: string,
  ...roles: Role[]
): Promise<{ id: string; token: string; refreshToken: string }> {
  let user = await engine.users.findOrCreateByPhone(phone, Date.now());
  for (const role of roles) {
    const granted = await engine.users.grantRole(user.id, role);
    if (!granted) throw new Error(`user ${user.id} vanished`);
    user = granted;
  }
  const session = await engine.tokens.startSession(user);
  return { id: user.id, token: session.accessToken, refreshToken: session.refreshToken };
}
