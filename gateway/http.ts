/** uWS HTTP plumbing: bounded JSON bodies, one response shape, one error body `{code, message}`. */
import { DispatchError, ErrorCode } from "../engine/errors.js";
import type { HttpResponse } from "./uws.js";

export function sendJson(
  res: HttpResponse,
  status: string,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.cork(() => {
    res.writeStatus(status).writeHeader("content-type", "application/json");
    for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
    res.end(text);
  });
}

/**
 * Reads the whole body, refusing more than `maxBytes` (the connection is answered 413 and the
 * rest ignored). Resolves `undefined` if the client went away; the caller must then not respond.
 * Must be called synchronously inside the route handler, before any await.
 */
export function readBody(
  res: HttpResponse,
  maxBytes: number,
  aborted: { value: boolean },
): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    res.onAborted(() => {
      aborted.value = true;
      if (!done) {
        done = true;
        resolve(undefined);
      }
    });
    res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > maxBytes) {
        done = true;
        reject(new DispatchError(ErrorCode.PayloadTooLarge, `request body over ${maxBytes} bytes`));
        return;
      }
      // uWS reuses the chunk's memory after this callback: copy it.
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) {
        done = true;
        resolve(Buffer.concat(chunks));
      }
    });
  });
}

/** Parses a JSON object body; anything else is INVALID_ARGUMENT with a message saying what. */
export function parseJsonObject(buf: Buffer): Record<string, unknown> {
  if (buf.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(buf.toString("utf8"));
  } catch (err) {
    throw new DispatchError(ErrorCode.InvalidArgument, `body is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new DispatchError(ErrorCode.InvalidArgument, "body must be a JSON object");
  }
  return value as Record<string, unknown>;
}
