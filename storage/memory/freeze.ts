/**
 * Stored values are detached from the caller (cloned once on write) and deep-frozen, so reads can
 * hand out the stored object itself: nobody can change it, and a later write replaces it rather
 * than mutating it, so an earlier read never changes under its holder.
 */
export function frozenCopy<T>(value: T): T {
  return deepFreeze(structuredClone(value));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
