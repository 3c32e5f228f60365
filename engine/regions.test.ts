import { latLngToCell } from "h3-js";
import { describe, expect, it } from "vitest";
import { h3RegionOf } from "./regions.js";

describe("h3RegionOf", () => {
  it("is the H3 cell of the pickup at the region resolution, as h3-js spells it", () => {
    const regionOf = h3RegionOf(4);
    expect(regionOf({ lat: 52.52, lng: 13.405 })).toBe(latLngToCell(52.52, 13.405, 4));
    expect(regionOf({ lat: 52.53, lng: 13.41 })).toBe(regionOf({ lat: 52.52, lng: 13.405 }));
  });

  it("refuses a bad resolution at construction", () => {
    expect(() => h3RegionOf(16)).toThrow(/resolution/);
  });
});
