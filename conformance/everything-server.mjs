// The MCP conformance suite's "everything server", written on mcp-use's MCPServer with this
// project's session classes (conformance/run.mjs starts it; see conformance/README.md).
//
//   SESSIONS=memory|redis  IMPL=native|mcp-use  PORT=3000  [REDIS_URL=redis://...  PREFIX=...]
//   NODE_ENV=production node conformance/everything-server.mjs
//
// SESSIONS=memory: InMemorySessionStore + InMemoryStreamManager.
// SESSIONS=redis:  RedisSessionStore + RedisStreamManager on node-redis clients of REDIS_URL, keys
//                  under PREFIX (several instances with one PREFIX form a fleet).
// IMPL=mcp-use takes the same five classes from mcp-use/server instead of ../index.mjs: the
// reference column of the report.
//
// The tool, resource and prompt names and their results are the ones the suite's server
// scenarios (@modelcontextprotocol/conformance, src/scenarios/server/*) ask for.
process.env.NODE_ENV ||= "production";
const mcpUse = await import("mcp-use/server");
const { z } = await import("zod");
const native = await import("../index.mjs");

const { MCPServer, completable } = mcpUse;
const impl = process.env.IMPL === "mcp-use" ? mcpUse : native;
const mode = process.env.SESSIONS || "memory";
const port = Number(process.env.PORT || 3000);

let sessionStore;
let streamManager;
const redisClients = [];
if (mode === "redis") {
  const { createClient } = await import("redis");
  const client = createClient({ url: process.env.REDIS_URL });
  const pubSubClient = client.duplicate();
  for (const c of [client, pubSubClient]) c.on("error", (e) => console.error("[redis]", e.message));
  await client.connect();
  await pubSubClient.connect();
  redisClients.push(client, pubSubClient);
  const prefix = process.env.PREFIX || "";
  sessionStore = new impl.RedisSessionStore({ client, prefix: `${prefix}mcp:session:` });
  streamManager = new impl.RedisStreamManager({ client, pubSubClient, prefix: `${prefix}mcp:stream:` });
} else if (mode === "memory") {
  sessionStore = new impl.InMemorySessionStore();
  streamManager = new impl.InMemoryStreamManager();
} else {
  throw new Error(`SESSIONS must be memory or redis, not ${JSON.stringify(mode)}`);
}

// DNS rebinding protection (scenario dns-rebinding-protection): only localhost Host/Origin.
const allowedOrigins = ["localhost", "127.0.0.1"].flatMap((h) => [`http://${h}`, `http://${h}:${port}`]);
for (const p of (process.env.EXTRA_PORTS || "").split(",").filter(Boolean)) allowedOrigins.push(`http://localhost:${p}`, `http://127.0.0.1:${p}`);

const server = new MCPServer({
  name: "mcp-sessions-native-conformance",
  version: "1.0.0",
  description: `conformance everything server (sessions=${mode}, impl=${process.env.IMPL || "native"})`,
  sessionStore,
  streamManager,
  allowedOrigins,
});

// 1x1 red PNG and a minimal WAV, as the suite's own everything server sends.
const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
const WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const textResult = (text) => ({ content: [{ type: "text", text }] });

// ---- tools ----
server.tool({ name: "test_simple_text", description: "Returns one text block" }, async () =>
  textResult("This is a simple text response for testing."),
);
server.tool({ name: "test_image_content", description: "Returns one image block" }, async () => ({
  content: [{ type: "image", data: PNG, mimeType: "image/png" }],
}));
server.tool({ name: "test_audio_content", description: "Returns one audio block" }, async () => ({
  content: [{ type: "audio", data: WAV, mimeType: "audio/wav" }],
}));
server.tool({ name: "test_embedded_resource", description: "Returns an embedded resource" }, async () => ({
  content: [{ type: "resource", resource: { uri: "test://embedded-resource", mimeType: "text/plain", text: "This is an embedded resource content." } }],
}));
server.tool({ name: "test_multiple_content_types", description: "Returns text, image and resource blocks" }, async () => ({
  content: [
    { type: "text", text: "Multiple content types test:" },
    { type: "image", data: PNG, mimeType: "image/png" },
    { type: "resource", resource: { uri: "test://mixed-content-resource", mimeType: "application/json", text: JSON.stringify({ test: "data", value: 123 }) } },
  ],
}));
server.tool({ name: "test_tool_with_logging", description: "Sends three log notifications while it runs" }, async (_args, ctx) => {
  for (const [i, data] of ["Tool execution started", "Tool processing data", "Tool execution completed"].entries()) {
    if (i) await sleep(50);
    await ctx.log("info", data); // on the tools/call response stream
  }
  return textResult("Tool with logging executed successfully");
});
server.tool({ name: "test_tool_with_progress", description: "Reports progress 0, 50, 100 of 100" }, async (_args, ctx) => {
  for (const [i, progress] of [0, 50, 100].entries()) {
    if (i) await sleep(50);
    await ctx.reportProgress?.(progress, 100, `Completed step ${progress} of 100`);
  }
  return textResult("progress reported");
});
server.tool({ name: "test_error_handling", description: "Always fails" }, async () => {
  throw new Error("This tool intentionally returns an error for testing");
});
server.tool(
  { name: "test_reconnection", description: "SEP-1699: answers after a short pause (the server may close the stream first)" },
  async () => {
    await sleep(100);
    return textResult("Reconnection test completed successfully.");
  },
);
server.tool(
  { name: "test_sampling", description: "Asks the client for an LLM completion", schema: z.object({ prompt: z.string().describe("The prompt to send to the LLM") }) },
  async ({ prompt }, ctx) => {
    try {
      // 10 s instead of the 60 s default: a request lost on its way to the client fails the
      // scenario quickly (it takes milliseconds when delivered) and keeps the fleet runs short.
      const result = await ctx.sample({ messages: [{ role: "user", content: { type: "text", text: prompt } }], maxTokens: 100 }, { timeout: 10_000 });
      const content = Array.isArray(result.content) ? result.content[0] : result.content;
      return textResult(`LLM response: ${content?.text ?? "No response"}`);
    } catch (e) {
      return textResult(`Sampling not supported or error: ${e.message}`);
    }
  },
);

async function elicitTool(ctx, message, requestedSchema, prefix) {
  try {
    const r = await ctx.elicit({ message, requestedSchema });
    return textResult(`${prefix}: action=${r.action}, content=${JSON.stringify(r.content || r.data || {})}`);
  } catch (e) {
    return textResult(`Elicitation not supported or error: ${e.message}`);
  }
}
server.tool(
  { name: "test_elicitation", description: "Asks the client for user input", schema: z.object({ message: z.string().describe("The message to show the user") }) },
  async ({ message }, ctx) =>
    elicitTool(ctx, message, { type: "object", properties: { response: { type: "string", description: "User's response" } }, required: ["response"] }, "User response"),
);
server.tool({ name: "test_elicitation_sep1034_defaults", description: "SEP-1034: elicitation with defaults for every primitive type" }, async (_args, ctx) =>
  elicitTool(
    ctx,
    "Please review and update the form fields with defaults",
    {
      type: "object",
      properties: {
        name: { type: "string", description: "User name", default: "John Doe" },
        age: { type: "integer", description: "User age", default: 30 },
        score: { type: "number", description: "User score", default: 95.5 },
        status: { type: "string", description: "User status", enum: ["active", "inactive", "pending"], default: "active" },
        verified: { type: "boolean", description: "Verification status", default: true },
      },
      required: [],
    },
    "Elicitation completed",
  ),
);
server.tool({ name: "test_elicitation_sep1330_enums", description: "SEP-1330: elicitation with the five enum variants" }, async (_args, ctx) =>
  elicitTool(
    ctx,
    "Please select options from the enum fields",
    {
      type: "object",
      properties: {
        untitledSingle: { type: "string", description: "Select one option", enum: ["option1", "option2", "option3"] },
        titledSingle: {
          type: "string",
          description: "Select one option with titles",
          oneOf: [
            { const: "value1", title: "First Option" },
            { const: "value2", title: "Second Option" },
            { const: "value3", title: "Third Option" },
          ],
        },
        legacyEnum: { type: "string", description: "Select one option (legacy)", enum: ["opt1", "opt2", "opt3"], enumNames: ["Option One", "Option Two", "Option Three"] },
        untitledMulti: { type: "array", description: "Select multiple options", minItems: 1, maxItems: 3, items: { type: "string", enum: ["option1", "option2", "option3"] } },
        titledMulti: {
          type: "array",
          description: "Select multiple options with titles",
          minItems: 1,
          maxItems: 3,
          items: {
            anyOf: [
              { const: "value1", title: "First Choice" },
              { const: "value2", title: "Second Choice" },
              { const: "value3", title: "Third Choice" },
            ],
          },
        },
      },
      required: [],
    },
    "Elicitation completed",
  ),
);

// SEP-1613: tools/list must carry this JSON Schema 2020-12 as written ($schema, $defs,
// additionalProperties). The tool is registered with the equivalent zod schema for
// tools/call; an MCP middleware puts the raw schema into the tools/list result.
const JSON_SCHEMA_2020_12 = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  $defs: { address: { type: "object", properties: { street: { type: "string" }, city: { type: "string" } } } },
  properties: { name: { type: "string" }, address: { $ref: "#/$defs/address" } },
  additionalProperties: false,
};
server.tool(
  {
    name: "json_schema_2020_12_tool",
    description: "Tool with JSON Schema 2020-12 features (SEP-1613)",
    schema: z.object({ name: z.string().optional(), address: z.object({ street: z.string().optional(), city: z.string().optional() }).optional() }),
  },
  async (args) => textResult(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`),
);
server.use("mcp:tools/list", async (_ctx, next) => {
  const result = await next(); // the tools array (mcp-use 1.34 wraps it back into { tools })
  const tools = Array.isArray(result) ? result : (result?.tools ?? []);
  for (const tool of tools) if (tool.name === "json_schema_2020_12_tool") tool.inputSchema = JSON_SCHEMA_2020_12;
  return result;
});

// ---- resources ----
server.resource(
  { name: "static-text", uri: "test://static-text", title: "Static Text Resource", description: "A static text resource", mimeType: "text/plain" },
  async () => ({ contents: [{ uri: "test://static-text", mimeType: "text/plain", text: "This is the content of the static text resource." }] }),
);
server.resource(
  { name: "static-binary", uri: "test://static-binary", title: "Static Binary Resource", description: "A static binary resource (PNG)", mimeType: "image/png" },
  async () => ({ contents: [{ uri: "test://static-binary", mimeType: "image/png", blob: PNG }] }),
);
server.resourceTemplate(
  { name: "template", uriTemplate: "test://template/{id}/data", title: "Resource Template", description: "Substitutes {id}", mimeType: "application/json" },
  async (uri, params) => ({
    contents: [{ uri: uri.href ?? String(uri), mimeType: "application/json", text: JSON.stringify({ id: params.id, templateTest: true, data: `Data for ID: ${params.id}` }) }],
  }),
);
server.resource(
  { name: "watched-resource", uri: "test://watched-resource", title: "Watched Resource", description: "A resource clients subscribe to", mimeType: "text/plain" },
  async () => ({ contents: [{ uri: "test://watched-resource", mimeType: "text/plain", text: "Watched resource content" }] }),
);

// ---- prompts ----
server.prompt({ name: "test_simple_prompt", title: "Simple Test Prompt", description: "A prompt without arguments" }, async () => ({
  messages: [{ role: "user", content: { type: "text", text: "This is a simple prompt for testing." } }],
}));
server.prompt(
  {
    name: "test_prompt_with_arguments",
    title: "Prompt With Arguments",
    description: "A prompt with two required arguments",
    // completable: MCPServer answers completion/complete only for completable arguments.
    schema: z.object({ arg1: completable(z.string().describe("First test argument"), ["paris", "park", "party"]), arg2: z.string().describe("Second test argument") }),
  },
  async ({ arg1, arg2 }) => ({ messages: [{ role: "user", content: { type: "text", text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } }] }),
);
server.prompt(
  {
    name: "test_prompt_with_embedded_resource",
    title: "Prompt With Embedded Resource",
    description: "A prompt that embeds a resource",
    schema: z.object({ resourceUri: z.string().describe("URI of the resource to embed") }),
  },
  async ({ resourceUri }) => ({
    messages: [
      { role: "user", content: { type: "resource", resource: { uri: resourceUri, mimeType: "text/plain", text: "Embedded resource content for testing." } } },
      { role: "user", content: { type: "text", text: "Please process the embedded resource above." } },
    ],
  }),
);
server.prompt({ name: "test_prompt_with_image", title: "Prompt With Image", description: "A prompt with an image" }, async () => ({
  messages: [
    { role: "user", content: { type: "image", data: PNG, mimeType: "image/png" } },
    { role: "user", content: { type: "text", text: "Please analyze the image above." } },
  ],
}));

await server.listen(port);
console.log(`conformance everything server on http://localhost:${port}/mcp (sessions=${mode}, impl=${process.env.IMPL || "native"}, pid ${process.pid})`);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  try {
    await streamManager.close?.();
    if (sessionStore.close) await sessionStore.close();
    for (const c of redisClients) if (c.isOpen) await c.quit().catch(() => {});
  } finally {
    process.exit(0);
  }
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
