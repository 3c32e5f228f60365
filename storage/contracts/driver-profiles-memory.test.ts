// The DriverProfileStore contract against the embedded (memory) stores.
import { MemoryDriverProfileStore } from "../memory/driver-profiles.js";
import { MemoryUserStore } from "../memory/identity.js";
import { driverProfileStoreContract } from "./driver-profiles.contract.js";

driverProfileStoreContract("memory", () => ({
  users: new MemoryUserStore(),
  profiles: new MemoryDriverProfileStore(),
}));
