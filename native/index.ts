/**
 * The hand-written face of the native addon. The generated loader (native/node/generated) is
 * kept apart; this module gives it the types and error mapping the engine wants.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DispatchError, ErrorCode, fromNative } from "../engine/errors.js";
import type * as Binding from "./node/generated/binding.js";

function locateBinding(): string {
  // From source this file is native/index.ts; compiled it is dist/native/index.js.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, "native", "node", "generated", "binding.cjs");
    if (existsSync(candidate)) return candidate;
    const sibling = join(dir, "node", "generated", "binding.cjs");
    if (existsSync(sibling)) return sibling;
    dir = dirname(dir);
  }
  throw new Error("native addon not built: run `npm run build:native` (or `node scripts/setup.mjs`)");
}

const require = createRequire(import.meta.url);
const binding: typeof Binding = require(locateBinding());

/** Wraps a native call so its coded errors surface as DispatchError with the same code. */
function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

/**
 * H3 cells of many points in one call. `latLngs` is interleaved `[lat0, lng0, lat1, lng1, ...]`.
 * Throws INVALID_COORDINATE (naming the pair), INVALID_RESOLUTION or LENGTH_MISMATCH.
 */
export function cellsOf(latLngs: Float64Array, resolution: number): BigUint64Array {
  if (!(latLngs instanceof Float64Array)) {
    throw new DispatchError(ErrorCode.InvalidArgument, "latLngs must be a Float64Array");
  }
  if (!Number.isInteger(resolution) || resolution < 0 || resolution > 15) {
    throw new DispatchError(
      ErrorCode.InvalidResolution,
      `H3 resolution ${resolution} is not an integer in 0..=15`,
    );
  }
  return call(() => binding.cellsOf(latLngs, resolution));
}
