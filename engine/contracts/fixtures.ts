/** Sample domain values for the port contract suites (test-only helpers, no vitest import). */
import type { DriverId, IdempotencyKey, Order, OrderEvent, OrderId, QuoteId, RiderId } from "../model.js";

let seq = 0;

/** A searching order at version 1; every call gets fresh ids unless overridden. */
export function sampleOrder(overrides: Partial<Order> = {}): Order {
  seq++;
  const n = String(seq).padStart(6, "0");
  return {
    id: `order-${n}` as OrderId,
    version: 1,
    state: "searching",
    riderId: "rider-1" as RiderId,
    idempotencyKey: `idem-key-${n}-0000000` as IdempotencyKey,
    quoteId: `quote-${n}` as QuoteId,
    region: "region-a",
    vehicleClass: "economy",
    pickup: { lat: 52.52, lng: 13.405 },
    dropoff: { lat: 52.5, lng: 13.45 },
    estimate: { distanceM: 5000, durationS: 720, fare: 1200 },
    tariff: {
      vehicleClass: "economy",
      currency: "EUR",
      baseFare: 250,
      perKm: 120,
      perMinute: 25,
      minimumFare: 500,
      surgePermille: 1000,
    },
    fees: {
      freeCancelWindowMs: 120_000,
      cancellationFee: 500,
      freeWaitingMs: 180_000,
      waitingFeePerMinute: 50,
      noShowAfterMs: 300_000,
      noShowFee: 500,
    },
    offer: null,
    driverId: null,
    acceptedOfferId: null,
    passedDriverIds: [],
    createdAt: 1_000_000 + seq,
    updatedAt: 1_000_000 + seq,
    acceptedAt: null,
    arrivedAt: null,
    startedAt: null,
    completedAt: null,
    cancelledAt: null,
    cancelReason: null,
    trip: null,
    bill: null,
    ratingByRider: null,
    ratingByDriver: null,
    ...overrides,
  };
}

/** The same order one version later with the given changes. */
export function successor(o: Order, changes: Partial<Order>): Order {
  return { ...o, ...changes, version: o.version + 1 };
}

export function sampleEvent(orderId: OrderId, version: number, id = `ev-${orderId}-${version}`): OrderEvent {
  return {
    id,
    type: "order.driver_arrived",
    orderId,
    version,
    state: "arrived",
    at: 1_000_000 + version,
    payload: { driverId: "driver-1" as DriverId },
  };
}
