import { describe, expect, it } from "vitest";
import type { Quote, QuoteId, RiderId } from "./model.js";
import { canonicalJson, HmacQuoteSigner } from "./quotes.js";

const KEY = "k".repeat(32);
const quote: Quote = {
  id: "q-1" as QuoteId,
  riderId: "rider-1" as RiderId,
  pickup: { lat: 52.52, lng: 13.405 },
  dropoff: { lat: 52.5, lng: -0.1 },
  distanceM: 5000,
  durationS: 700,
  tariff: {
    vehicleClass: "economy",
    currency: "EUR",
    baseFare: 250,
    perKm: 120,
    perMinute: 25,
    minimumFare: 500,
    surgePermille: 1250,
  },
  fare: 1400,
  issuedAt: 1_700_000_000_000,
  expiresAt: 1_700_000_300_000,
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

/** Replaces the character at i with another base64url character. */
function flip(s: string, i: number): string {
  const c = s[i] === "A" ? "B" : "A";
  return s.slice(0, i) + c + s.slice(i + 1);
}

describe("canonicalJson", () => {
  it("sorts keys at every level, keeps arrays in order, no spaces", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: "x" } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it("refuses non-finite numbers", () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow();
  });
});

describe("HmacQuoteSigner", () => {
  const signer = new HmacQuoteSigner({ keyId: "k1", key: KEY });

  it("verify(sign(q)) gives q back; the same quote gives the same token whatever its key order", () => {
    const token = signer.sign(quote);
    expect(token.startsWith("q1.k1.")).toBe(true);
    expect(signer.verify(token)).toEqual(quote);
    const reordered = Object.fromEntries(Object.entries(quote).reverse()) as unknown as Quote;
    expect(signer.sign(reordered)).toBe(token);
  });

  it("any changed character of payload or signature is QUOTE_INVALID", () => {
    const token = signer.sign(quote);
    const start = token.indexOf(".", 3) + 1;
    for (let i = start; i < token.length; i++) {
      if (token[i] === ".") continue;
      expect(codeOf(() => signer.verify(flip(token, i)))).toBe("QUOTE_INVALID");
    }
  });

  it("a payload re-encoded with a better price does not verify", () => {
    const [v, kid, , sig] = signer.sign(quote).split(".");
    const cheaper = Buffer.from(canonicalJson({ ...quote, fare: 1 } as never)).toString("base64url");
    expect(codeOf(() => signer.verify(`${v}.${kid}.${cheaper}.${sig}`))).toBe("QUOTE_INVALID");
  });

  it("another key, an unknown key id, garbage and oversize are QUOTE_INVALID", () => {
    const other = new HmacQuoteSigner({ keyId: "k1", key: "x".repeat(32) });
    expect(codeOf(() => signer.verify(other.sign(quote)))).toBe("QUOTE_INVALID");
    const unknown = new HmacQuoteSigner({ keyId: "k9", key: KEY });
    expect(codeOf(() => signer.verify(unknown.sign(quote)))).toBe("QUOTE_INVALID");
    for (const bad of ["", "q1", "q1.k1.a.b.c", "q2.k1.abc.def", "q1.k1.a+b.cd", "x".repeat(5000)]) {
      expect(codeOf(() => signer.verify(bad))).toBe("QUOTE_INVALID");
    }
  });

  it("a validly signed payload of the wrong shape is refused", () => {
    const forge = (payload: unknown) => {
      // Sign arbitrary JSON with the real key by going through sign() on a cast value.
      return signer.sign(payload as Quote);
    };
    expect(codeOf(() => signer.verify(forge({ ...quote, fare: -1 })))).toBe("QUOTE_INVALID");
    expect(codeOf(() => signer.verify(forge({ ...quote, pickup: { lat: 91, lng: 0 } })))).toBe(
      "QUOTE_INVALID",
    );
    expect(codeOf(() => signer.verify(forge({ ...quote, tariff: null })))).toBe("QUOTE_INVALID");
  });

  it("rotation: tokens of a previous key still verify; new tokens use the current key", () => {
    const old = new HmacQuoteSigner({ keyId: "k0", key: "o".repeat(32) });
    const rotated = new HmacQuoteSigner({ keyId: "k1", key: KEY, previousKeys: { k0: "o".repeat(32) } });
    expect(rotated.verify(old.sign(quote))).toEqual(quote);
    expect(rotated.sign(quote).startsWith("q1.k1.")).toBe(true);
  });

  it("refuses short keys and bad key ids at construction (INVALID_CONFIG)", () => {
    expect(codeOf(() => new HmacQuoteSigner({ keyId: "k1", key: "short" }))).toBe("INVALID_CONFIG");
    expect(codeOf(() => new HmacQuoteSigner({ keyId: "k.1", key: KEY }))).toBe("INVALID_CONFIG");
  });
});
