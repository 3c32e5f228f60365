/**
 * Peer: what a typical Node team would write for driver ingest: a plain Socket.IO server on
 * Node's HTTP server, a `fix` event per GPS fix, validated and kept in a Map, acknowledged when
 * the client asks. Prints `PORT <n>` when listening.
 */
import { createServer } from "node:http";
import { Server } from "socket.io";

const positions = new Map<string, { lat: number; lng: number; t: number }>();
const http = createServer();
const io = new Server(http, { serveClient: false, maxHttpBufferSize: 64 * 1024 });
io.on("connection", (socket) => {
  const id = socket.id;
  socket.on("fix", (fix: { lat?: unknown; lng?: unknown; t?: unknown }, ack?: (r: unknown) => void) => {
    const { lat, lng, t } = fix ?? {};
    if (typeof lat === "number" && typeof lng === "number" && typeof t === "number" && Math.abs(lat) <= 90) {
      const prev = positions.get(id);
      if (!prev || prev.t < t) positions.set(id, { lat, lng, t });
    }
    if (typeof ack === "function") ack({ ok: true });
  });
  socket.on("disconnect", () => positions.delete(id));
});
http.listen(0, "127.0.0.1", () => {
  const addr = http.address();
  console.log(`PORT ${typeof addr === "object" && addr ? addr.port : 0}`);
});
