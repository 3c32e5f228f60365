// The request-guard contracts against the in-process implementations (one process: both
// handles are the same object).
import { MemoryIdempotency } from "../memory/idempotency.js";
import { MemoryRateLimiter } from "../memory/rate-limit.js";
import { idempotencyStoreContract, rateLimiterContract } from "./limits.contract.js";

rateLimiterContract("memory", () => {
  const a = new MemoryRateLimiter();
  return { a, b: a };
});
idempotencyStoreContract("memory", (o) => {
  const a = new MemoryIdempotency(o);
  return { a, b: a };
});
