// What an mcp-use instance holding a stream writes for a message one of ours sent: the message
// after the journal tag, an SSE comment line its client ignores (docs/redis.md, "The journal").
const TAG = /^: mcp-sessions-native journal \d+-\d+\n/;

/** `text` without its journal tag; throws if it has none. */
function untag(text) {
  if (!TAG.test(text)) throw new Error(`expected a journal tag: ${JSON.stringify(text)}`);
  return text.replace(TAG, "");
}

module.exports = { untag };
