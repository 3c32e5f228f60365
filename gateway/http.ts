/** Small helpers for uWS HTTP responses: one JSON shape, one error body `{code, message}`. */
import type { HttpResponse } from "./uws.js";

export function sendJson(res: HttpResponse, status: string, body: unknown): void {
  const text = JSON.stringify(body);
  res.cork(() => {
    res.writeStatus(status).writeHeader("content-type", "application/json").end(text);
  });
}
