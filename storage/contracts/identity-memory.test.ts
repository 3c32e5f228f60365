// The identity contract suites against the embedded (memory) stores.
import { MemoryRefreshTokenStore, MemoryUserStore } from "../memory/identity.js";
import { refreshTokenStoreContract, userStoreContract } from "./identity.contract.js";

userStoreContract("memory", () => new MemoryUserStore());
refreshTokenStoreContract("memory", () => ({
  users: new MemoryUserStore(),
  refreshTokens: new MemoryRefreshTokenStore(),
}));
