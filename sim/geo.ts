/** Small flat-earth geometry for the simulator (fine over a city). */

export interface LatLng {
  lat: number;
  lng: number;
}

export interface Bounds {
  south: number;
  west: number;
  north: number;
  east: number;
}

/** Central Chicago (about 9 x 7.5 km): Lincoln Park to Bridgeport, the lake to Humboldt Park. */
export const CHICAGO: Bounds = { south: 41.85, west: -87.7, north: 41.93, east: -87.61 };

/** Where demand concentrates: the Loop, River North, West Loop, Wicker Park, Lincoln Park. */
export const CHICAGO_HOT_SPOTS: LatLng[] = [
  { lat: 41.8819, lng: -87.6278 },
  { lat: 41.8925, lng: -87.6341 },
  { lat: 41.8825, lng: -87.647 },
  { lat: 41.9088, lng: -87.6796 },
  { lat: 41.9214, lng: -87.6513 },
];

const M_PER_DEG_LAT = 111_320;
const mPerDegLng = (lat: number) => M_PER_DEG_LAT * Math.cos((lat * Math.PI) / 180);

export function distanceM(a: LatLng, b: LatLng): number {
  const dy = (b.lat - a.lat) * M_PER_DEG_LAT;
  const dx = (b.lng - a.lng) * mPerDegLng(a.lat);
  return Math.hypot(dx, dy);
}

/** `from` moved towards `to` by at most `stepM` metres; `arrived` when it reached `to`. */
export function stepTowards(from: LatLng, to: LatLng, stepM: number): { at: LatLng; arrived: boolean } {
  const d = distanceM(from, to);
  if (d <= stepM) return { at: { lat: to.lat, lng: to.lng }, arrived: true };
  const f = stepM / d;
  return {
    at: { lat: from.lat + (to.lat - from.lat) * f, lng: from.lng + (to.lng - from.lng) * f },
    arrived: false,
  };
}

/** `p` moved `m` metres north and `e` metres east. */
export function offset(p: LatLng, northM: number, eastM: number): LatLng {
  return { lat: p.lat + northM / M_PER_DEG_LAT, lng: p.lng + eastM / mPerDegLng(p.lat) };
}

export function clamp(p: LatLng, b: Bounds): LatLng {
  return {
    lat: Math.min(b.north, Math.max(b.south, p.lat)),
    lng: Math.min(b.east, Math.max(b.west, p.lng)),
  };
}

/** The box around the middle `share` of the points (drops outliers); null for no points. */
export function boundsOf(points: readonly LatLng[], share = 0.96): Bounds | null {
  if (points.length === 0) return null;
  const lats = points.map((p) => p.lat).sort((a, b) => a - b);
  const lngs = points.map((p) => p.lng).sort((a, b) => a - b);
  const cut = Math.floor((points.length * (1 - share)) / 2);
  const lo = cut;
  const hi = points.length - 1 - cut;
  return { south: lats[lo]!, north: lats[hi]!, west: lngs[lo]!, east: lngs[hi]! };
}
