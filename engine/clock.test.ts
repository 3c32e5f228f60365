import { describe, expect, it } from "vitest";
import { ManualClock, SystemClock } from "./clock.js";

describe("ManualClock", () => {
  it("stands still until advanced", () => {
    const c = new ManualClock(1000);
    expect(c.now()).toBe(1000);
    c.advance(250);
    expect(c.now()).toBe(1250);
    expect(() => c.advanceTo(1000)).toThrow(RangeError);
  });

  it("fires due timers in (due time, set order), each at its due time", () => {
    const c = new ManualClock(0);
    const seen: string[] = [];
    c.setTimer(30, () => seen.push(`c@${c.now()}`));
    c.setTimer(10, () => seen.push(`a@${c.now()}`));
    c.setTimer(10, () => seen.push(`b@${c.now()}`));
    c.setTimer(31, () => seen.push("late"));
    expect(c.advance(29)).toBe(2);
    expect(seen).toEqual(["a@10", "b@10"]);
    expect(c.advance(1)).toBe(1);
    expect(seen).toEqual(["a@10", "b@10", "c@30"]);
    expect(c.pending).toBe(1);
  });

  it("a timer is due at exactly now + delay, not a millisecond earlier", () => {
    const c = new ManualClock(0);
    let fired = false;
    c.setTimer(100, () => {
      fired = true;
    });
    c.advance(99);
    expect(fired).toBe(false);
    c.advance(1);
    expect(fired).toBe(true);
  });

  it("fires timers set by a callback within the same advance; negative delay means now", () => {
    const c = new ManualClock(0);
    const seen: number[] = [];
    c.setTimer(5, () => {
      seen.push(c.now());
      c.setTimer(5, () => seen.push(c.now()));
      c.setTimer(-3, () => seen.push(c.now()));
    });
    c.advance(100);
    expect(seen).toEqual([5, 5, 10]);
    expect(c.now()).toBe(100);
  });

  it("clearTimer cancels; clearing twice or after firing is a no-op", () => {
    const c = new ManualClock(0);
    let n = 0;
    const h = c.setTimer(10, () => n++);
    const g = c.setTimer(5, () => n++);
    c.clearTimer(h);
    c.clearTimer(h);
    c.advance(20);
    c.clearTimer(g);
    expect(n).toBe(1);
    expect(c.pending).toBe(0);
  });

  it("advanceAsync lets async handlers finish before the next timer", async () => {
    const c = new ManualClock(0);
    const seen: string[] = [];
    c.setTimer(1, async () => {
      await Promise.resolve();
      await Promise.resolve();
      seen.push("first done");
    });
    c.setTimer(2, () => seen.push("second"));
    expect(await c.advanceAsync(5)).toBe(2);
    expect(seen).toEqual(["first done", "second"]);
    expect(c.now()).toBe(5);
  });
});

describe("SystemClock", () => {
  it("tells wall time and fires a real timer", async () => {
    const c = new SystemClock();
    const t = c.now();
    expect(Math.abs(t - Date.now())).toBeLessThan(1000);
    const fired = await new Promise<number>((resolve) => c.setTimer(5, () => resolve(c.now())));
    expect(fired).toBeGreaterThanOrEqual(t);
  });

  it("clearTimer cancels a real timer", async () => {
    const c = new SystemClock();
    let fired = false;
    c.clearTimer(
      c.setTimer(1, () => {
        fired = true;
      }),
    );
    await new Promise((r) => setTimeout(r, 20));
    expect(fired).toBe(false);
  });
});
