import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../engine/errors.js";
import { PhoneCipher } from "./phone-crypto.js";

describe("PhoneCipher", () => {
  const secret = PhoneCipher.newSecret();
  const cipher = PhoneCipher.fromSecret(secret);

  it("round-trips a phone for the same user, with a fresh IV each time", () => {
    const a = cipher.encrypt("+15555550100", "user-1");
    const b = cipher.encrypt("+15555550100", "user-1");
    expect(a.equals(b)).toBe(false);
    expect(cipher.decrypt(a, "user-1")).toBe("+15555550100");
    expect(a[0]).toBe(1);
  });

  it("refuses another user's id, an altered byte, a truncated blob, another key or key id", () => {
    const blob = cipher.encrypt("+15555550100", "user-1");
    expect(() => cipher.decrypt(blob, "user-2")).toThrow(
      expect.objectContaining({ code: ErrorCode.Internal }),
    );
    const altered = Buffer.from(blob);
    altered[20] = altered[20]! ^ 1;
    expect(() => cipher.decrypt(altered, "user-1")).toThrow(/does not decrypt/);
    expect(() => cipher.decrypt(blob.subarray(0, 20), "user-1")).toThrow(/truncated/);
    expect(() => PhoneCipher.fromSecret(PhoneCipher.newSecret()).decrypt(blob, "user-1")).toThrow(
      /does not decrypt/,
    );
    expect(() => PhoneCipher.fromSecret(secret, 2).decrypt(blob, "user-1")).toThrow(/unknown key 1/);
  });

  it("hashes deterministically under one secret and differently under another", () => {
    expect(cipher.hash("+15555550100")).toEqual(PhoneCipher.fromSecret(secret).hash("+15555550100"));
    expect(cipher.hash("+15555550100")).not.toEqual(cipher.hash("+15555550101"));
    expect(cipher.hash("+15555550100")).not.toEqual(
      PhoneCipher.fromSecret(PhoneCipher.newSecret()).hash("+15555550100"),
    );
  });

  it("refuses a short secret or a bad key id", () => {
    expect(() => PhoneCipher.fromSecret("too short")).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidConfig }),
    );
    expect(() => PhoneCipher.fromSecret(secret, 256)).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidConfig }),
    );
  });
});
