/**
 * Peer: a bare uWebSockets.js echo server, the limit of our transport. Every frame is sent
 * back as it came. Prints `PORT <n>` when listening.
 */
import { uWS } from "../../gateway/uws.js";

const app = uWS.App();
app.ws("/*", {
  maxPayloadLength: 64 * 1024,
  idleTimeout: 120,
  message: (ws, message, isBinary) => {
    ws.send(message, isBinary);
  },
});
app.listen("127.0.0.1", 0, (socket) => {
  if (!socket) {
    console.error("uws-echo: cannot listen");
    process.exit(1);
  }
  console.log(`PORT ${uWS.us_socket_local_port(socket as never)}`);
});
