/** JSON over HTTP against a running gateway, as the route tests and the process tests call it. */

export interface JsonResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown> & { code?: string };
}

/**
 * `method url` with `body` as JSON (a string is sent as it is, for malformed bodies) and the
 * response body parsed as JSON. The content type is set only when there is a body.
 */
export async function callJson(
  url: string,
  method: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  const res = await fetch(url, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as JsonResponse["body"] };
}

/** The authorization header for a bearer token; none without one. */
export function bearer(token: string | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}
