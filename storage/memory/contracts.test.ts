import { driverAssignmentsContract } from "../../engine/contracts/driver-assignments.contract.js";
import { driverStatsContract } from "../../engine/contracts/driver-stats.contract.js";
import { eventLogContract } from "../../engine/contracts/event-log.contract.js";
import { orderStoreContract } from "../../engine/contracts/order-store.contract.js";
import { MemoryDriverAssignments, MemoryDriverStats, MemoryEventLog, MemoryOrderStore } from "./index.js";

orderStoreContract("memory", () => new MemoryOrderStore());
driverAssignmentsContract("memory", () => new MemoryDriverAssignments());
eventLogContract("memory", () => new MemoryEventLog());
driverStatsContract("memory", () => new MemoryDriverStats());
