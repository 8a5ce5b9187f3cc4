// An app that deploys mcp-sessions-native from its packed tarballs (no registry, no Rust):
// mcp-use's MCPServer with the sessions in a file and the streams in memory. The classes come
// from the installed package, as in any app. Dockerfile (next to this file) builds an image of
// it; __test__/packaging.test.js installs it the same way and calls its tool.
//
//   NODE_ENV=production PORT=3000 HOST=0.0.0.0 node server.mjs
//
// NODE_ENV=production: otherwise MCPServer.listen() starts mcp-use's dev tooling. PORT and
// HOST are read by MCPServer itself (default 3000 on localhost).
import { MCPServer, text } from "mcp-use/server";
import { FileSystemSessionStore, InMemoryStreamManager } from "mcp-sessions-native";

const sessionStore = new FileSystemSessionStore({ path: ".mcp-use/sessions.json" });
const streamManager = new InMemoryStreamManager();
const server = new MCPServer({ name: "app", version: "1.0.0", sessionStore, streamManager });

server.tool({ name: "session", description: "This session's id and what the session store holds for it" }, async (_args, ctx) =>
  text(JSON.stringify({ sessionId: ctx.session.sessionId, metadata: await sessionStore.get(ctx.session.sessionId) })),
);

await server.listen();

// The store writes what is pending on SIGTERM by itself and then re-raises the signal, which a
// process running as PID 1 (a container's node) ignores. So handle it here: the same write,
// awaited, then exit, and `docker stop` takes no 10-second grace period.
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, async () => {
    await sessionStore.flush();
    process.exit(0);
  });
}
