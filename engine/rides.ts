/**
 * The ride application service: what the gateway calls for riders and drivers, and the hooks the
 * dispatch loop calls. It validates input, checks that the caller takes part in the order, runs
 * the pure state machine (orders.ts), writes with compare-and-set, keeps driver holds, appends
 * the domain event and notifies.
 *
 * Driver holds (the "one driver, one offer or order" invariant across processes): before an
 * order may point at a driver, the driver's record must hold that offer (`DriverAssignments`
 * CAS); it is let go only after the order stopped pointing at it. A hold whose order no longer
 * points at it is stale (a crash between the two writes) and is taken over, except an offer hold
 * not yet expired, which may be one being set up right now. An offer that expired is dead even
 * if not yet timed out: accept refuses it.
 */
import { randomUUID } from "node:crypto";
import { DispatchError, ErrorCode } from "./errors.js";
import type { Logger } from "./logger.js";
import type {
  Actor,
  DriverId,
  FeePolicy,
  LatLng,
  Order,
  OrderId,
  OrderState,
  Quote,
  QuoteId,
} from "./model.js";
import { ASSIGNED_STATES, TERMINAL_STATES } from "./model.js";
import { applyCommand, applyRating, createOrder, type OrderCommand, type Step } from "./orders.js";
import type {
  Clock,
  DriverAssignments,
  DriverHold,
  EventLog,
  FareModel,
  Notifier,
  OrderStore,
  QuoteSigner,
  RouteEstimator,
  SurgeSource,
} from "./ports.js";
import * as v from "./validate.js";
import { type DriverOrderView, driverView, type RiderOrderView, riderView } from "./views.js";

// ---------------------------------------------------------------------------------------------
// Configuration

export interface RideConfig {
  /** How long a quote can be turned into an order. */
  readonly quoteTtlMs: number;
  readonly fees: FeePolicy;
  /** Longest offer the dispatcher may make. */
  readonly maxOfferMs: number;
  /** Compare-and-set attempts before a call gives up with a temporary CONFLICT. */
  readonly maxAttempts: number;
  /** Largest history page. */
  readonly maxPage: number;
}

export const DEFAULT_FEES: FeePolicy = {
  freeCancelWindowMs: 2 * 60_000,
  cancellationFee: 500,
  freeWaitingMs: 3 * 60_000,
  waitingFeePerMinute: 50,
  noShowAfterMs: 5 * 60_000,
  noShowFee: 500,
};

export const DEFAULT_RIDE_CONFIG: RideConfig = {
  quoteTtlMs: 5 * 60_000,
  fees: DEFAULT_FEES,
  maxOfferMs: 60_000,
  maxAttempts: 8,
  maxPage: 100,
};

export type RideConfigInput = Partial<Omit<RideConfig, "fees">> & { readonly fees?: Partial<FeePolicy> };

/** Defaults filled in and every value checked; a bad value throws INVALID_CONFIG naming it. */
export function rideConfig(input: RideConfigInput = {}): RideConfig {
  const cfg: RideConfig = {
    ...DEFAULT_RIDE_CONFIG,
    ...input,
    fees: { ...DEFAULT_FEES, ...input.fees },
  };
  const check = (name: string, value: number, min: number) => {
    if (!Number.isSafeInteger(value) || value < min) {
      throw new DispatchError(
        ErrorCode.InvalidConfig,
        `ride config ${name} must be an integer >= ${min} (got ${value})`,
      );
    }
  };
  check("quoteTtlMs", cfg.quoteTtlMs, 1_000);
  check("maxOfferMs", cfg.maxOfferMs, 1_000);
  check("maxAttempts", cfg.maxAttempts, 1);
  check("maxPage", cfg.maxPage, 1);
  for (const [k, value] of Object.entries(cfg.fees)) check(`fees.${k}`, value, 0);
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// Inputs and outputs

export interface RideDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly orders: OrderStore;
  readonly drivers: DriverAssignments;
  readonly events: EventLog;
  readonly notifier: Notifier;
  readonly quotes: QuoteSigner;
  readonly fares: FareModel;
  readonly routes: RouteEstimator;
  readonly surge: SurgeSource;
  /** Dispatch region of a pickup (see regions.ts). */
  readonly regionOf: (pickup: LatLng) => string;
  /** Fresh unique ids (orders, offers, events); randomUUID unless a test wants them seeded. */
  readonly newId?: () => string;
}

/** What the gateway sends as the caller; checked like any other input. */
export interface ActorInput {
  readonly role: "rider" | "driver";
  readonly id: string;
}

export type OrderView = RiderOrderView | DriverOrderView;

export interface QuoteView {
  /** Pass back unchanged to `requestRide`. */
  readonly token: string;
  readonly quoteId: QuoteId;
  readonly vehicleClass: string;
  readonly currency: string;
  readonly fare: number;
  readonly distanceM: number;
  readonly durationS: number;
  readonly surge: number;
  readonly expiresAt: number;
}

export interface HistoryPage<V> {
  readonly orders: V[];
  /** Pass as `cursor` for the next (older) page; null at the end. */
  readonly next: string | null;
}

export type OfferOutcome =
  | { readonly status: "offered"; readonly offerId: string; readonly order: Order }
  /** The driver holds another live offer or an active order. */
  | { readonly status: "driver_busy" }
  /** The order is no longer waiting for a driver (cancelled, offered elsewhere, accepted). */
  | { readonly status: "order_unavailable"; readonly state: OrderState }
  /** `expiresAt` passed while the offer was being made (slow storage); nothing was offered. */
  | { readonly status: "expired" };

export type TimeoutOutcome =
  | { readonly status: "timed_out"; readonly order: Order }
  /** The offer was already answered, withdrawn or replaced. */
  | { readonly status: "stale" };

export type NoDriverOutcome =
  | { readonly status: "cancelled"; readonly order: Order }
  | { readonly status: "stale"; readonly state: OrderState };

const MAX_DISTANCE_M = 2_000_000;
const MAX_DURATION_S = 24 * 3600;

function notFound(id: string): DispatchError {
  return new DispatchError(ErrorCode.NotFound, `order ${id} not found`);
}

/** Whether the order still points at the driver through the given offer (pending or accepted). */
function pointsAt(o: Order, driverId: DriverId, offerId: string): boolean {
  if (TERMINAL_STATES.has(o.state)) return false;
  return (
    (o.offer !== null && o.offer.id === offerId && o.offer.driverId === driverId) ||
    (o.acceptedOfferId === offerId && o.driverId === driverId)
  );
}

function visibleTo(o: Order, actor: Actor): boolean {
  if (actor.role === "rider") return o.riderId === actor.id;
  return o.driverId === actor.id || (o.offer !== null && o.offer.driverId === actor.id);
}

function viewFor(o: Order, actor: Actor): OrderView {
  return actor.role === "rider" ? riderView(o) : driverView(o, actor.id);
}

function encodeCursor(o: Order): string {
  return Buffer.from(`${o.createdAt}.${o.id}`, "utf8").toString("base64url");
}

function decodeCursor(cursor: unknown): { createdAt: number; id: OrderId } {
  const fail = () => new DispatchError(ErrorCode.InvalidArgument, "cursor is not one this service returned");
  if (typeof cursor !== "string" || cursor.length > 400) throw fail();
  const text = Buffer.from(cursor, "base64url").toString("utf8");
  const dot = text.indexOf(".");
  const createdAt = Number(text.slice(0, dot));
  if (dot < 1 || !Number.isSafeInteger(createdAt)) throw fail();
  try {
    return { createdAt, id: v.orderId(text.slice(dot + 1)) };
  } catch {
    throw fail();
  }
}

// ---------------------------------------------------------------------------------------------

export class RideService {
  readonly config: RideConfig;
  readonly #d: RideDeps;
  readonly #newId: () => string;

  constructor(deps: RideDeps, config: RideConfigInput = {}) {
    this.#d = deps;
    this.#newId = deps.newId ?? randomUUID;
    this.config = rideConfig(config);
  }

  // ----- riders ------------------------------------------------------------------------------

  /** A signed, expiring price for a trip. INVALID_ARGUMENT for an unknown vehicle class. */
  async quote(riderId: string, pickup: LatLng, dropoff: LatLng, vehicleClass: string): Promise<QuoteView> {
    const rider = v.riderId(riderId);
    const from = v.latLng(pickup, "pickup");
    const to = v.latLng(dropoff, "dropoff");
    const cls = v.vehicleClass(vehicleClass);
    const { fares } = this.#d;
    const tariff = fares.tariff(cls, await this.#d.surge.multiplierAt(from, cls));
    if (tariff === null)
      throw new DispatchError(ErrorCode.InvalidArgument, `vehicle class ${cls} is not offered`);
    const route = await this.#d.routes.estimate(from, to);
    const distanceM = Math.round(route.distanceM);
    const durationS = Math.round(route.durationS);
    const now = this.#d.clock.now();
    const quote: Quote = {
      id: this.#newId() as QuoteId,
      riderId: rider,
      pickup: from,
      dropoff: to,
      distanceM,
      durationS,
      tariff,
      fare: fares.price(tariff, distanceM, durationS),
      issuedAt: now,
      expiresAt: now + this.config.quoteTtlMs,
    };
    return {
      token: this.#d.quotes.sign(quote),
      quoteId: quote.id,
      vehicleClass: cls,
      currency: tariff.currency,
      fare: quote.fare,
      distanceM,
      durationS,
      surge: tariff.surgePermille / 1000,
      expiresAt: quote.expiresAt,
    };
  }

  /**
   * Turns a quote into an order at the quoted tariff. The same (rider, idempotency key) always
   * gives the same order, even after the quote expired. QUOTE_INVALID (tampered), FORBIDDEN
   * (another rider's quote), QUOTE_EXPIRED, QUOTE_USED (an order exists under another key),
   * CONFLICT (the key was used with another quote).
   */
  async requestRide(riderId: string, quoteToken: string, idempotencyKey: string): Promise<RiderOrderView> {
    const rider = v.riderId(riderId);
    const key = v.idempotencyKey(idempotencyKey);
    if (typeof quoteToken !== "string" || quoteToken.length === 0) {
      throw new DispatchError(ErrorCode.InvalidArgument, "quoteToken must be a non-empty string");
    }
    const quote = this.#d.quotes.verify(quoteToken);
    if (quote.riderId !== rider)
      throw new DispatchError(ErrorCode.Forbidden, "this quote was issued to another rider");
    const now = this.#d.clock.now();
    if (now >= quote.expiresAt) {
      const existing = await this.#d.orders.getByIdempotencyKey(rider, key);
      if (existing !== null && existing.quoteId === quote.id) return riderView(existing);
      throw new DispatchError(
        ErrorCode.QuoteExpired,
        `quote expired at ${new Date(quote.expiresAt).toISOString()}`,
      );
    }
    const step = createOrder({
      id: this.#newId() as OrderId,
      quote,
      idempotencyKey: key,
      region: this.#d.regionOf(quote.pickup),
      fees: this.config.fees,
      now,
      eventId: this.#newId(),
    });
    const res = await this.#d.orders.create(step.order);
    switch (res.status) {
      case "created":
        this.#d.log.info("order requested", {
          orderId: res.order.id,
          riderId: rider,
          region: res.order.region,
        });
        await this.#publish(null, step);
        return riderView(res.order);
      case "replayed":
        if (res.order.quoteId !== quote.id) {
          throw new DispatchError(
            ErrorCode.Conflict,
            "idempotencyKey was already used for a request with another quote",
          );
        }
        return riderView(res.order);
      case "quote_used":
        throw new DispatchError(ErrorCode.QuoteUsed, `quote already made order ${res.order.id}`);
    }
  }

  /**
   * Cancels as the rider (free before acceptance and inside the window, the fee after) or as the
   * assigned driver (`noShow` once the rider is late enough: TOO_EARLY before).
   */
  async cancel(
    actor: ActorInput,
    orderId: string,
    options: { readonly noShow?: boolean } = {},
  ): Promise<OrderView> {
    const who = v.actor(actor);
    const id = v.orderId(orderId);
    const action: OrderCommand["action"] =
      who.role === "rider" ? "cancel_by_rider" : options.noShow === true ? "no_show" : "cancel_by_driver";
    const step = await this.#act(id, who, () => ({ action }) as OrderCommand);
    return viewFor(step.order, who);
  }

  /** Stars 1..5, once per side, only by the rider and the assigned driver, only after completion. */
  async rate(actor: ActorInput, orderId: string, stars: number): Promise<OrderView> {
    const who = v.actor(actor);
    const id = v.orderId(orderId);
    const n = v.stars(stars);
    const step = await this.#mutate(id, (o, now) => {
      if (!visibleTo(o, who)) throw notFound(id);
      return applyRating(o, who.role, n, now, this.#newId());
    });
    await this.#publish(step.before, step);
    return viewFor(step.order, who);
  }

  /** The order as the caller may see it; NOT_FOUND if it is not theirs (never "forbidden"). */
  async getOrder(actor: ActorInput, orderId: string): Promise<OrderView> {
    const who = v.actor(actor);
    const id = v.orderId(orderId);
    const o = await this.#d.orders.get(id);
    if (o === null || !visibleTo(o, who)) throw notFound(id);
    return viewFor(o, who);
  }

  /** The caller's orders, newest first: a rider's requests, a driver's assigned trips. */
  async history(
    actor: ActorInput,
    options: { readonly limit?: number; readonly cursor?: string } = {},
  ): Promise<HistoryPage<OrderView>> {
    const who = v.actor(actor);
    const limit =
      options.limit === undefined ? 20 : v.integer(options.limit, "limit", 1, this.config.maxPage);
    const before = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    const page = before === undefined ? { limit } : { limit, before };
    const list =
      who.role === "rider"
        ? await this.#d.orders.listByRider(who.id, page)
        : await this.#d.orders.listByDriver(who.id, page);
    const last = list.at(-1);
    return {
      orders: list.map((o) => viewFor(o, who)),
      next: list.length === limit && last !== undefined ? encodeCursor(last) : null,
    };
  }

  // ----- drivers -----------------------------------------------------------------------------

  /** Accepts the driver's live offer. Repeating an accept that went through returns the order. */
  async accept(driverId: string, orderId: string): Promise<DriverOrderView> {
    const driver = v.driverId(driverId);
    const id = v.orderId(orderId);
    for (let attempt = 0; attempt < this.config.maxAttempts; attempt++) {
      const o = await this.#d.orders.get(id);
      if (o === null) throw notFound(id);
      if (o.driverId === driver && ASSIGNED_STATES.has(o.state)) return driverView(o, driver);
      const offer = o.offer;
      if (offer === null || offer.driverId !== driver) throw this.#noOffer(o, driver, "accept");
      const step = applyCommand(o, { action: "accept" }, this.#d.clock.now(), this.#newId());
      // Turn the offer hold into the active hold first, so that a crash leaves the driver held.
      if (!(await this.#upgrade(driver, offer.id, id))) {
        throw new DispatchError(
          ErrorCode.OfferExpired,
          `offer ${offer.id} is no longer held for this driver`,
        );
      }
      const res = await this.#d.orders.compareAndSet(id, o.version, step.order);
      if (res.ok) {
        await this.#publish(o, step);
        return driverView(step.order, driver);
      }
      if (res.current === null || !pointsAt(res.current, driver, offer.id))
        await this.#release(driver, offer.id);
    }
    throw this.#busy(id);
  }

  async decline(driverId: string, orderId: string): Promise<void> {
    const driver = v.driverId(driverId);
    const id = v.orderId(orderId);
    await this.#act(id, { role: "driver", id: driver }, (o) => {
      if (o.offer === null || o.offer.driverId !== driver) throw this.#noOffer(o, driver, "decline");
      return { action: "decline" };
    });
  }

  /** The driver set off to the pickup (accepted -> driver_arriving). */
  async depart(driverId: string, orderId: string): Promise<DriverOrderView> {
    return this.#driverStep(driverId, orderId, () => ({ action: "depart" }));
  }

  async arrived(driverId: string, orderId: string): Promise<DriverOrderView> {
    return this.#driverStep(driverId, orderId, () => ({ action: "arrive" }));
  }

  async start(driverId: string, orderId: string): Promise<DriverOrderView> {
    return this.#driverStep(driverId, orderId, () => ({ action: "start" }));
  }

  /** Ends the trip; the fare is the locked tariff over the real track, plus the waiting fee. */
  async complete(
    driverId: string,
    orderId: string,
    track: { readonly distanceM: number; readonly durationS: number },
  ): Promise<DriverOrderView> {
    if (typeof track !== "object" || track === null) {
      throw new DispatchError(ErrorCode.InvalidArgument, "track must be { distanceM, durationS }");
    }
    const distanceM = v.measure(track.distanceM, "distanceM", MAX_DISTANCE_M);
    const durationS = v.measure(track.durationS, "durationS", MAX_DURATION_S);
    return this.#driverStep(driverId, orderId, (o) => ({
      action: "complete",
      distanceM,
      durationS,
      tripFare: this.#d.fares.price(o.tariff, distanceM, durationS),
    }));
  }

  // ----- dispatch hooks ------------------------------------------------------------------------

  /**
   * Offers a searching order to a driver until `expiresAt` (after now, at most `maxOfferMs`
   * ahead). Refusals are data: the driver is busy, or the order is no longer searching.
   */
  async offer(orderId: string, driverId: string, expiresAt: number): Promise<OfferOutcome> {
    const id = v.orderId(orderId);
    const driver = v.driverId(driverId);
    const now = this.#d.clock.now();
    const until = v.integer(expiresAt, "expiresAt", now + 1, now + this.config.maxOfferMs);
    let o = await this.#d.orders.get(id);
    if (o === null) throw notFound(id);
    if (o.state !== "searching") return { status: "order_unavailable", state: o.state };
    const offerId = this.#newId();
    if (!(await this.#acquire(driver, { kind: "offer", orderId: id, offerId, expiresAt: until }))) {
      return { status: "driver_busy" };
    }
    try {
      for (let attempt = 0; attempt < this.config.maxAttempts; attempt++) {
        if (o.state !== "searching") {
          await this.#release(driver, offerId);
          return { status: "order_unavailable", state: o.state };
        }
        const at = this.#d.clock.now();
        if (at >= until) {
          await this.#release(driver, offerId);
          return { status: "expired" };
        }
        const cmd: OrderCommand = { action: "offer", offerId, driverId: driver, expiresAt: until };
        const step = applyCommand(o, cmd, at, this.#newId());
        const res = await this.#d.orders.compareAndSet(id, o.version, step.order);
        if (res.ok) {
          await this.#publish(o, step);
          return { status: "offered", offerId, order: step.order };
        }
        if (res.current === null) throw notFound(id);
        o = res.current;
      }
      throw this.#busy(id);
    } catch (err) {
      // A failed write may still have landed (the reply was lost): let go only if it did not.
      await this.#releaseUnlessPointed(driver, offerId, id);
      throw err;
    }
  }

  /** The offer `offerId` ran out unanswered: back to searching. TOO_EARLY before its expiry. */
  async offerTimedOut(orderId: string, offerId: string): Promise<TimeoutOutcome> {
    const id = v.orderId(orderId);
    const offer = v.id<string>(offerId, "offerId");
    const step = await this.#mutate(id, (o, now) =>
      o.offer === null || o.offer.id !== offer
        ? null
        : applyCommand(o, { action: "offer_timeout" }, now, this.#newId()),
    );
    if (step === null) return { status: "stale" };
    await this.#after(step);
    return { status: "timed_out", order: step.order };
  }

  /** The dispatcher gave up on a searching order: cancelled as no_driver_found. */
  async noDriverFound(orderId: string): Promise<NoDriverOutcome> {
    const id = v.orderId(orderId);
    let state: OrderState = "searching";
    const step = await this.#mutate(id, (o, now) => {
      state = o.state;
      return o.state === "searching"
        ? applyCommand(o, { action: "no_driver_found" }, now, this.#newId())
        : null;
    });
    if (step === null) return { status: "stale", state };
    await this.#after(step);
    return { status: "cancelled", order: step.order };
  }

  // ----- internals -----------------------------------------------------------------------------

  async #driverStep(
    driverId: string,
    orderId: string,
    command: (o: Order) => OrderCommand,
  ): Promise<DriverOrderView> {
    const driver = v.driverId(driverId);
    const step = await this.#act(v.orderId(orderId), { role: "driver", id: driver }, command);
    return driverView(step.order, driver);
  }

  /** Participant check, then the command; releases holds, appends and notifies after the write. */
  async #act(id: OrderId, who: Actor, command: (o: Order) => OrderCommand): Promise<Step> {
    const step = await this.#mutate(id, (o, now) => {
      if (!visibleTo(o, who)) throw notFound(id);
      return applyCommand(o, command(o), now, this.#newId());
    });
    await this.#after(step);
    return step;
  }

  /**
   * Read, decide, compare-and-set; on a lost race decide again on the fresh order. `decide`
   * returning null means "nothing to do" and writes nothing.
   */
  async #mutate<T extends Step | null>(
    id: OrderId,
    decide: (o: Order, now: number) => T,
  ): Promise<(T & { before: Order }) | Extract<T, null>> {
    for (let attempt = 0; attempt < this.config.maxAttempts; attempt++) {
      const o = await this.#d.orders.get(id);
      if (o === null) throw notFound(id);
      const step = decide(o, this.#d.clock.now());
      if (step === null) return null as Extract<T, null>;
      const res = await this.#d.orders.compareAndSet(id, o.version, step.order);
      if (res.ok) return { ...step, before: o };
    }
    throw this.#busy(id);
  }

  async #after(step: Step & { before: Order }): Promise<void> {
    await this.#releaseFreed(step.before, step.order);
    await this.#publish(step.before, step);
  }

  /** Lets go of the holds the order pointed at before the change and no longer does. */
  async #releaseFreed(before: Order, after: Order): Promise<void> {
    if (before.offer !== null && !pointsAt(after, before.offer.driverId, before.offer.id)) {
      await this.#release(before.offer.driverId, before.offer.id);
    }
    if (
      before.driverId !== null &&
      before.acceptedOfferId !== null &&
      !pointsAt(after, before.driverId, before.acceptedOfferId)
    ) {
      await this.#release(before.driverId, before.acceptedOfferId);
    }
  }

  /** Why a driver has no offer to answer: passed on it (expired), is on it (illegal), or a stranger. */
  #noOffer(o: Order, driver: DriverId, what: string): DispatchError {
    if (o.driverId === driver) {
      return new DispatchError(ErrorCode.IllegalTransition, `cannot ${what} an order that is ${o.state}`);
    }
    if (o.passedDriverIds.includes(driver)) {
      return new DispatchError(ErrorCode.OfferExpired, `the offer of order ${o.id} to this driver is over`);
    }
    return notFound(o.id);
  }

  #busy(id: OrderId): DispatchError {
    return new DispatchError(ErrorCode.Conflict, `order ${id} keeps changing; try again`, {
      temporary: true,
    });
  }

  /** Takes the driver's hold unless a live one is there; false when the driver is busy. */
  async #acquire(driver: DriverId, hold: DriverHold): Promise<boolean> {
    for (let attempt = 0; attempt < this.config.maxAttempts; attempt++) {
      const a = await this.#d.drivers.get(driver);
      if (a.hold !== null && (await this.#holdIsLive(driver, a.hold))) return false;
      const res = await this.#d.drivers.compareAndSet(driver, a.version, hold);
      if (res.ok) {
        if (a.hold !== null)
          this.#d.log.warn("took over a stale driver hold", { driverId: driver, stale: a.hold });
        return true;
      }
    }
    return false;
  }

  async #holdIsLive(driver: DriverId, hold: DriverHold): Promise<boolean> {
    const o = await this.#d.orders.get(hold.orderId);
    if (o !== null && pointsAt(o, driver, hold.offerId)) return true;
    return hold.kind === "offer" && hold.expiresAt !== null && this.#d.clock.now() < hold.expiresAt;
  }

  /** offer hold -> active hold for the same offer; true if the driver now holds it as active. */
  async #upgrade(driver: DriverId, offerId: string, orderId: OrderId): Promise<boolean> {
    for (let attempt = 0; attempt < this.config.maxAttempts; attempt++) {
      const a = await this.#d.drivers.get(driver);
      if (a.hold === null || a.hold.offerId !== offerId) return false;
      if (a.hold.kind === "active") return true;
      const res = await this.#d.drivers.compareAndSet(driver, a.version, {
        kind: "active",
        orderId,
        offerId,
        expiresAt: null,
      });
      if (res.ok) return true;
    }
    return false;
  }

  /**
   * Clears the driver's hold if it is still the one for `offerId`. Only called once no order
   * points at that offer any more (offer ids are never reused), so it can never free a driver
   * that is still bound. A failure here only leaves a stale hold, which `#acquire` takes over.
   */
  async #release(driver: DriverId, offerId: string): Promise<void> {
    try {
      for (let attempt = 0; attempt < 100; attempt++) {
        const a = await this.#d.drivers.get(driver);
        if (a.hold === null || a.hold.offerId !== offerId) return;
        if ((await this.#d.drivers.compareAndSet(driver, a.version, null)).ok) return;
      }
      this.#d.log.warn("driver hold kept changing; left for takeover", { driverId: driver, offerId });
    } catch (err) {
      this.#d.log.warn("could not release driver hold; left for takeover", {
        driverId: driver,
        offerId,
        err: String(err),
      });
    }
  }

  /** Releases the hold unless the order points at it; when unsure (read fails) leaves it for takeover. */
  async #releaseUnlessPointed(driver: DriverId, offerId: string, orderId: OrderId): Promise<void> {
    let o: Order | null;
    try {
      o = await this.#d.orders.get(orderId);
    } catch {
      return;
    }
    if (o === null || !pointsAt(o, driver, offerId)) await this.#release(driver, offerId);
  }

  /** Appends the event, then tells the rider, the driver concerned and the admins. */
  async #publish(before: Order | null, step: Step): Promise<void> {
    const { event, order } = step;
    try {
      await this.#d.events.append(event);
    } catch (err) {
      // The order store is the source of truth and already changed; failing the call now would
      // make the caller retry an action that happened.
      this.#d.log.error("event append failed", {
        eventId: event.id,
        orderId: order.id,
        type: event.type,
        err: String(err),
      });
    }
    this.#d.log.debug("order event", { orderId: order.id, type: event.type, version: event.version });
    const n = this.#d.notifier;
    const safely = (fn: () => void) => {
      try {
        fn();
      } catch (err) {
        this.#d.log.warn("notifier threw", { orderId: order.id, err: String(err) });
      }
    };
    safely(() => n.toAdmins({ type: "order_event", event }));
    if (event.type === "order.rated") return;
    safely(() => n.toRider(order.riderId, { type: "order", event: event.type, order: riderView(order) }));

    switch (event.type) {
      case "order.offered":
        safely(() =>
          n.toDriver(event.payload.driverId, {
            type: "offer",
            order: driverView(order, event.payload.driverId),
            offerId: event.payload.offerId,
            expiresAt: event.payload.expiresAt,
          }),
        );
        return;
      case "order.offer_declined":
      case "order.offer_timed_out": {
        const reason = event.type === "order.offer_declined" ? "declined" : "timed_out";
        const { driverId, offerId } = event.payload;
        safely(() => n.toDriver(driverId, { type: "offer_closed", orderId: order.id, offerId, reason }));
        return;
      }
      case "order.cancelled":
        if (before?.offer) {
          const { driverId, id: offerId } = before.offer;
          safely(() =>
            n.toDriver(driverId, { type: "offer_closed", orderId: order.id, offerId, reason: "cancelled" }),
          );
        }
        break;
      case "order.requested":
        return;
      default:
        break;
    }
    if (order.driverId !== null) {
      const driver = order.driverId;
      safely(() =>
        n.toDriver(driver, { type: "order", event: event.type, order: driverView(order, driver) }),
      );
    }
  }
}
