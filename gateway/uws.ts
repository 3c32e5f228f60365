/**
 * Loads uWebSockets.js from its native binary and nothing else.
 *
 * The npm mirror we use (`@trufflesuite/uws-js-unofficial`) silently falls back to a pure-JS
 * server when its binary does not load, and that server's WebSockets hang. We therefore require
 * the binary for this platform and Node ABI directly and refuse to start without it.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as UWS from "@trufflesuite/uws-js-unofficial";
import { DispatchError, ErrorCode } from "../engine/errors.js";

export type {
  HttpRequest,
  HttpResponse,
  TemplatedApp,
  us_listen_socket,
  WebSocket,
} from "@trufflesuite/uws-js-unofficial";

const require = createRequire(import.meta.url);

function loadNative(): typeof UWS {
  if (/^(1|true)$/i.test(process.env.UWS_USE_FALLBACK ?? "")) {
    throw new DispatchError(
      ErrorCode.Unavailable,
      "UWS_USE_FALLBACK is set: the pure-JS uWebSockets fallback hangs WebSockets; unset it",
    );
  }
  const pkgDir = dirname(require.resolve("@trufflesuite/uws-js-unofficial/package.json"));
  const file = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  const path = join(pkgDir, "binaries", file);
  if (!existsSync(path)) {
    throw new DispatchError(
      ErrorCode.Unavailable,
      `uWebSockets.js has no native binary for ${process.platform}-${process.arch} on Node ABI ` +
        `${process.versions.modules} (looked for ${path}); use Node.js 20 on Linux x64/arm64`,
    );
  }
  try {
    return require(path) as typeof UWS;
  } catch (cause) {
    throw new DispatchError(ErrorCode.Unavailable, `uWebSockets.js native binary ${path} failed to load`, {
      cause,
    });
  }
}

export const uWS: typeof UWS = loadNative();
