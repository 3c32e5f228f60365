import { describe, expect, it } from "vitest";
import { asyncCodeOf, codeOf, mulberry32, randomPoint } from "./harness.js";
import { DriverIndex, EtaModel, Matcher, type MatchInput, type MatchResult } from "./index.js";

/** Costs are solved in whole milliseconds, rounded half up, as the core documents. */
const units = (s: number) => Math.floor(Math.fround(s) * 1000 + 0.5);

function problem(
  candidates: [driver: number, costS: number][][],
  maxPickupS: number[],
  penaltiesS?: number[],
): MatchInput {
  const offsets = [0];
  const drivers: number[] = [];
  const costs: number[] = [];
  for (const list of candidates) {
    for (const [d, c] of list) {
      drivers.push(d);
      costs.push(c);
    }
    offsets.push(drivers.length);
  }
  return {
    offsets: Uint32Array.from(offsets),
    drivers: Uint32Array.from(drivers),
    costsS: Float32Array.from(costs),
    maxPickupS: Float32Array.from(maxPickupS),
    penaltiesS: penaltiesS && Float32Array.from(penaltiesS),
  };
}

function randomProblem(
  rand: () => number,
  requests: number,
  fleet: number,
  withPenalties: boolean,
): MatchInput {
  const candidates: [number, number][][] = [];
  for (let r = 0; r < requests; r++) {
    const list: [number, number][] = [];
    const n = Math.floor(rand() * 4);
    for (let i = 0; i < n; i++) list.push([Math.floor(rand() * fleet), Math.round(rand() * 900 * 8) / 8]);
    candidates.push(list);
  }
  const maxPickup = candidates.map(() => (rand() < 0.2 ? 300 : Number.POSITIVE_INFINITY));
  const penalties = withPenalties ? candidates.map(() => 100 + Math.round(rand() * 900)) : undefined;
  return problem(candidates, maxPickup, penalties);
}

/** The optimum by enumerating every assignment (small instances only). */
function bruteForceObjective(input: MatchInput, defaultPenaltyS: number): number {
  const n = input.maxPickupS.length;
  const used = new Set<number>();
  let best = Number.POSITIVE_INFINITY;
  const visit = (r: number, total: number): void => {
    if (total >= best) return;
    if (r === n) {
      best = total;
      return;
    }
    visit(r + 1, total + units(input.penaltiesS?.[r] ?? defaultPenaltyS));
    for (let e = input.offsets[r]!; e < input.offsets[r + 1]!; e++) {
      const d = input.drivers[e]!;
      const c = input.costsS[e]!;
      if (used.has(d) || c > input.maxPickupS[r]!) continue;
      used.add(d);
      visit(r + 1, total + units(c));
      used.delete(d);
    }
  };
  visit(0, 0);
  return best;
}

/** Checks a result is a feasible assignment and returns its objective, recomputed. */
function checkFeasible(input: MatchInput, result: MatchResult, defaultPenaltyS: number): number {
  const n = input.maxPickupS.length;
  const seen = new Set<number>();
  const drivers = new Set<number>();
  let objective = 0;
  let total = 0;
  result.requests.forEach((r, i) => {
    const d = result.drivers[i]!;
    expect(seen.has(r) || drivers.has(d)).toBe(false);
    seen.add(r);
    drivers.add(d);
    let cheapest = Number.POSITIVE_INFINITY;
    for (let e = input.offsets[r]!; e < input.offsets[r + 1]!; e++) {
      if (input.drivers[e] === d) cheapest = Math.min(cheapest, input.costsS[e]!);
    }
    expect(result.costsS[i]).toBe(cheapest);
    expect(cheapest).toBeLessThanOrEqual(input.maxPickupS[r]!);
    objective += units(cheapest);
    total += cheapest;
  });
  for (const r of result.unassigned) {
    expect(seen.has(r)).toBe(false);
    seen.add(r);
    objective += units(input.penaltiesS?.[r] ?? defaultPenaltyS);
  }
  expect(seen.size).toBe(n);
  expect(result.reasons).toHaveLength(result.unassigned.length);
  expect(result.totalPickupS).toBeCloseTo(total, 3);
  expect(result.objectiveMs).toBe(objective);
  return objective;
}

/** The documented greedy: requests in order, each its cheapest free candidate within reach. */
function jsGreedy(input: MatchInput): Map<number, number> {
  const taken = new Set<number>();
  const chosen = new Map<number, number>();
  for (let r = 0; r < input.maxPickupS.length; r++) {
    let best = -1;
    for (let e = input.offsets[r]!; e < input.offsets[r + 1]!; e++) {
      const c = input.costsS[e]!;
      if (
        c <= input.maxPickupS[r]! &&
        !taken.has(input.drivers[e]!) &&
        (best < 0 || c < input.costsS[best]!)
      ) {
        best = e;
      }
    }
    if (best >= 0) {
      taken.add(input.drivers[best]!);
      chosen.set(r, input.drivers[best]!);
    }
  }
  return chosen;
}

describe("Matcher", () => {
  it("finds the optimum a brute force finds, on small random instances", () => {
    const rand = mulberry32(3);
    const matcher = new Matcher({ unassignedPenaltyS: 600 });
    for (let t = 0; t < 300; t++) {
      const input = randomProblem(rand, 1 + Math.floor(rand() * 6), 1 + Math.floor(rand() * 6), t % 2 === 0);
      const result = matcher.solve(input);
      const objective = checkFeasible(input, result, 600);
      expect(objective).toBe(bruteForceObjective(input, 600));
      // Greedy is feasible too, and never better.
      expect(checkFeasible(input, matcher.solveGreedy(input), 600)).toBeGreaterThanOrEqual(objective);
    }
  });

  it("solveGreedy is the nearest-driver baseline, computed the same in JS", () => {
    const rand = mulberry32(4);
    const matcher = new Matcher();
    for (let t = 0; t < 50; t++) {
      const input = randomProblem(rand, 40, 30, false);
      const result = matcher.solveGreedy(input);
      const want = jsGreedy(input);
      expect(new Map([...result.requests].map((r, i) => [r, result.drivers[i]!]))).toEqual(want);
    }
  });

  it("beats greedy on the classic trap and names why requests went unassigned", () => {
    const matcher = new Matcher();
    const trap = problem(
      [
        [
          [1, 1],
          [2, 2],
        ],
        [
          [1, 2],
          [2, 100],
        ],
      ],
      [600, 600],
    );
    const optimal = matcher.solve(trap);
    expect([...optimal.drivers]).toEqual([2, 1]);
    expect(optimal.totalPickupS).toBe(4);
    expect(matcher.solveGreedy(trap).totalPickupS).toBe(101);

    const reasons = problem([[], [[7, 61]], [[9, 10]], [[9, 20]]], [600, 60, 600, 600]);
    const result = matcher.solve(reasons);
    expect([...result.unassigned]).toEqual([0, 1, 3]);
    expect(result.reasons).toEqual(["no_candidates", "none_within_max_pickup", "outbid"]);
    expect(matcher.lastStats.greedyPlaced).toBeGreaterThan(0);
    const empty = matcher.solve(problem([], []));
    expect(empty.requests.length + empty.unassigned.length).toBe(0);
  });

  it("solveAsync gives what solve gives, and copies its input before returning", async () => {
    const rand = mulberry32(5);
    const matcher = new Matcher();
    const inputs = Array.from({ length: 8 }, () => randomProblem(rand, 200, 150, true));
    const expected = inputs.map((input) => matcher.solve(input));
    const pending = inputs.map((input) => matcher.solveAsync(input));
    // JS scribbles over its arrays while the solves run: the results must not notice.
    for (const input of inputs) {
      input.costsS.fill(0);
      input.drivers.fill(0);
    }
    const results = await Promise.all(pending);
    results.forEach((result, i) => {
      expect(result).toEqual(expected[i]);
    });
  });

  it("matches requests to drivers from the index at ETA costs", () => {
    const rand = mulberry32(6);
    const index = new DriverIndex();
    for (let i = 0; i < 1_000; i++) {
      const [lat, lng] = randomPoint(rand);
      index.upsert(`d${i}`, { lat, lng, timeMs: 0 });
      index.setStatus(`d${i}`, "free");
    }
    const eta = new EtaModel();
    const n = 300;
    const pickups = new Float64Array(2 * n);
    for (let i = 0; i < n; i++) [pickups[2 * i], pickups[2 * i + 1]] = randomPoint(rand);
    const near = index.nearestMany(pickups, { k: 10, radiusM: 5_000 });
    const offsets = new Uint32Array(n + 1);
    const drivers: number[] = [];
    const costs: number[] = [];
    for (let r = 0; r < n; r++) {
      const c = near.counts[r]!;
      const targets = new Float64Array(2 * c);
      for (let j = 0; j < c; j++) {
        const state = index.get(index.idOf(near.handles[r * near.k + j]!)!)!;
        targets[2 * j] = state.lat;
        targets[2 * j + 1] = state.lng;
        drivers.push(state.handle);
      }
      costs.push(...eta.etaMany(pickups[2 * r]!, pickups[2 * r + 1]!, targets, 8));
      offsets[r + 1] = drivers.length;
    }
    const input = {
      offsets,
      drivers: Uint32Array.from(drivers),
      costsS: Float32Array.from(costs),
      maxPickupS: new Float32Array(n).fill(900),
    };
    const optimal = new Matcher().solve(input);
    const greedy = new Matcher().solveGreedy(input);
    checkFeasible(input, optimal, 3600);
    checkFeasible(input, greedy, 3600);
    expect(optimal.objectiveMs).toBeLessThanOrEqual(greedy.objectiveMs);
  });

  it("rejects bad input with coded errors, synchronously and asynchronously", async () => {
    const matcher = new Matcher();
    const ok = problem([[[1, 5]]], [600]);
    const bad = <T>(v: unknown) => v as T;
    const cases: [MatchInput, string][] = [
      [{ ...ok, offsets: Uint32Array.of(0) }, "LENGTH_MISMATCH"],
      [{ ...ok, costsS: Float32Array.of() }, "LENGTH_MISMATCH"],
      [{ ...ok, offsets: Uint32Array.of(0, 2) }, "LENGTH_MISMATCH"],
      [{ ...ok, penaltiesS: Float32Array.of(1, 2) }, "LENGTH_MISMATCH"],
      [{ ...ok, costsS: Float32Array.of(Number.NaN) }, "INVALID_ARGUMENT"],
      [{ ...ok, costsS: Float32Array.of(-1) }, "INVALID_ARGUMENT"],
      [{ ...ok, maxPickupS: Float32Array.of(Number.NaN) }, "INVALID_ARGUMENT"],
      [{ ...ok, offsets: Uint32Array.of(1, 1) }, "INVALID_ARGUMENT"],
      [{ ...ok, penaltiesS: Float32Array.of(Number.POSITIVE_INFINITY) }, "INVALID_ARGUMENT"],
      [{ ...ok, offsets: bad([0, 1]) }, "INVALID_ARGUMENT"],
      [{ ...ok, costsS: bad(Float64Array.of(5)) }, "INVALID_ARGUMENT"],
      [bad(undefined), "INVALID_ARGUMENT"],
    ];
    for (const [input, code] of cases) {
      expect(codeOf(() => matcher.solve(input))).toBe(code);
      expect(codeOf(() => matcher.solveGreedy(input))).toBe(code);
      expect(await asyncCodeOf(() => matcher.solveAsync(input))).toBe(code);
    }
    expect(codeOf(() => new Matcher({ unassignedPenaltyS: -1 }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => new Matcher(bad({ unassignedPenaltyS: "1" })))).toBe("INVALID_ARGUMENT");
    // The matcher still works after all that.
    expect(matcher.solve(ok).totalPickupS).toBe(5);
  });
});
