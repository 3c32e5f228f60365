/**
 * Dispatch regions: the partition key of open orders and of dispatch ownership. The default is
 * the H3 cell of the pickup at a coarse resolution (res 4 is about 1,770 km², a metro area).
 */
import { cellsOf } from "../native/index.js";
import { DispatchError, ErrorCode } from "./errors.js";
import type { LatLng } from "./model.js";

export function h3RegionOf(resolution = 4): (pickup: LatLng) => string {
  if (!Number.isInteger(resolution) || resolution < 0 || resolution > 15) {
    throw new DispatchError(
      ErrorCode.InvalidConfig,
      `region resolution ${resolution} is not an integer in 0..=15`,
    );
  }
  return (pickup) => cellsOf(Float64Array.of(pickup.lat, pickup.lng), resolution)[0]!.toString(16);
}
