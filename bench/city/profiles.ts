/**
 * The two profiles of the city bench: `quick` (under two minutes in all, every peer included)
 * and `long` (as many sockets as one process's file-descriptor limit allows, and a phase near
 * 20,000 fixes/s).
 */
import type { DemandModel, Schedule } from "./demand.js";

export interface CityRun {
  /** Driver sockets at full strength, over `generators` processes. */
  readonly drivers: number;
  readonly generators: number;
  readonly schedule: Schedule;
  readonly demand: Omit<DemandModel, "drivers">;
  /** Open riders at most, over all generators. */
  readonly maxRiders: number;
}

export interface Profile {
  readonly name: "quick" | "long";
  /** Idle sockets opened to each server (its memory per socket), in two batches. */
  readonly idleSockets: number;
  readonly ours: CityRun;
  /** The Socket.IO + Redis peer runs the same flow and demand; its schedule is the first phases of ours. */
  readonly peer: CityRun;
  /** Saturation flood (bench/load/flood.ts) per server: sockets and seconds. */
  readonly flood: { readonly connections: number; readonly durationMs: number };
  readonly probeEvery: number;
}

const phase = (
  name: string,
  durationS: number,
  fleet: "ramp-up" | "hold" | "ramp-down",
  fixPeriodMs: number,
) => ({
  name,
  durationS,
  fleet,
  fixPeriodMs,
});

export const QUICK: Profile = {
  name: "quick",
  idleSockets: 1_500,
  ours: {
    drivers: 1_200,
    generators: 2,
    schedule: {
      phases: [
        // Our gateway admits about 150 driver sockets a second here (token, user lookup, status).
        phase("ramp-up", 8, "ramp-up", 4_000),
        phase("hold T=4s", 10, "hold", 4_000),
        phase("hold T=1s", 7, "hold", 1_000),
        phase("ramp-down", 2, "ramp-down", 4_000),
      ],
    },
    // About 1-1.7 orders/s: 7:00 to 9:00 compressed into the run (the morning peak rising).
    demand: { ordersPerDriverS: 0.0012, startHour: 7, hoursPerS: 2 / 27 },
    maxRiders: 400,
  },
  peer: {
    drivers: 1_200,
    generators: 2,
    schedule: {
      phases: [
        phase("ramp-up", 8, "ramp-up", 4_000),
        phase("hold T=4s", 10, "hold", 4_000),
        phase("ramp-down", 2, "ramp-down", 4_000),
      ],
    },
    demand: { ordersPerDriverS: 0.0012, startHour: 7, hoursPerS: 2 / 27 },
    maxRiders: 400,
  },
  flood: { connections: 200, durationMs: 4_000 },
  probeEvery: 10,
};

/**
 * 17,500 drivers + up to 1,500 riders: one gateway process may hold at most 20,000 descriptors
 * on this machine (RLIMIT_NOFILE hard limit, not raisable without CAP_SYS_RESOURCE). The T=0.875
 * s phase is 20,000 fixes/s.
 */
export const LONG: Profile = {
  name: "long",
  idleSockets: 10_000,
  ours: {
    drivers: 17_500,
    generators: 3,
    schedule: {
      phases: [
        // 100-150 admissions a second (see QUICK): 17,500 sockets need two to three minutes.
        phase("ramp-up", 200, "ramp-up", 4_000),
        phase("hold T=4s", 60, "hold", 4_000),
        phase("hold 20k fixes/s", 60, "hold", 875),
        phase("ramp-down", 15, "ramp-down", 4_000),
      ],
    },
    demand: { ordersPerDriverS: 0.0003, startHour: 16, hoursPerS: 4 / 335 },
    maxRiders: 1_500,
  },
  peer: {
    drivers: 17_500,
    generators: 3,
    schedule: {
      phases: [
        phase("ramp-up", 200, "ramp-up", 4_000),
        phase("hold T=4s", 60, "hold", 4_000),
        phase("ramp-down", 10, "ramp-down", 4_000),
      ],
    },
    // The same demand model and seeds as ours: the same order times and places over the common phases.
    demand: { ordersPerDriverS: 0.0003, startHour: 16, hoursPerS: 4 / 335 },
    maxRiders: 1_500,
  },
  // Tokens travel in flood.ts's argv: 250 of them stay under Linux's 128 KiB per argument.
  flood: { connections: 250, durationMs: 15_000 },
  probeEvery: 20,
};
