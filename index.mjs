import { createRequire } from 'node:module'

const binding = createRequire(import.meta.url)('./index.js')

export const {
  InMemorySessionStore,
  FileSystemSessionStore,
  RedisSessionStore,
  InMemoryStreamManager,
  RedisStreamManager,
  RedisServerEventBus,
  renderPrometheus,
} = binding
export default binding
