/** The embedded storage: every engine storage port in process memory. */

export { MemoryDriverStats } from "./driver-stats.js";
export { MemoryDriverAssignments } from "./drivers.js";
export { MemoryEventLog } from "./events.js";
export { MemoryNotifier, type Sent } from "./notifier.js";
export { MemoryOrderStore } from "./orders.js";
