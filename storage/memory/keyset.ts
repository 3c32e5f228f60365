/**
 * Keyset paging over an in-process collection, the way the SQL stores page with
 * `WHERE (created_at, id) > $after ORDER BY created_at, id LIMIT $limit`.
 */
type Key = readonly [createdAt: number, id: string];

function compare(a: Key, b: Key): number {
  return a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
}

/** `items` oldest first by `key` (createdAt, then id), strictly after `after`; at most `limit`. */
export function keysetPage<T>(
  items: Iterable<T>,
  key: (item: T) => Key,
  after: Key | undefined,
  limit: number,
): T[] {
  return [...items]
    .filter((item) => after === undefined || compare(key(item), after) > 0)
    .sort((a, b) => compare(key(a), key(b)))
    .slice(0, limit);
}
