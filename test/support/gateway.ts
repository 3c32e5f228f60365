/**
 * A gateway on a free port with in-memory users and an ephemeral signing key, for tests that
 * exercise the sockets and routes without the rest of the engine.
 */
import { silentLogger } from "../../engine/logger.js";
import { KeyRing, TokenService } from "../../gateway/auth/tokens.js";
import { type GatewayOptions, startGateway } from "../../gateway/server.js";
import { MemoryRefreshTokenStore, MemoryUserStore } from "../../storage/memory/identity.js";

export async function startTestGateway(
  options: Omit<GatewayOptions, "host" | "port" | "logger" | "authenticate">,
) {
  const users = new MemoryUserStore();
  const tokens = new TokenService({
    keys: await KeyRing.ephemeral(),
    users,
    refreshTokens: new MemoryRefreshTokenStore(),
    now: Date.now,
  });
  const gateway = await startGateway({
    host: "127.0.0.1",
    port: 0,
    logger: silentLogger,
    authenticate: (t) => tokens.verify(t),
    ...options,
  });
  return { gateway, tokens, users };
}
