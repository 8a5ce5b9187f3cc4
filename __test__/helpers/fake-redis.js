"use strict";
// An in-memory stand-in for Redis shaped like mcp-use's RedisClient contract (get, set,
// setEx/setex, del, exists, keys, expire, sAdd, sRem, sMembers, publish, subscribe(channel,
// callback), unsubscribe, quit), as users write them for their test suites. Several clients
// share one FakeRedis (one key space, one pub/sub bus), so two stream managers on two
// clients behave like two servers on one Redis. Its clock only moves when the test says so
// (advance), so expiry is tested without waiting.

/** A Redis glob (`*`, `?`, `[...]`, backslash escapes) as a RegExp. */
function globToRegExp(pattern) {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\" && i + 1 < pattern.length) re += pattern[++i].replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    else if (c === "*") re += "[\\s\\S]*";
    else if (c === "?") re += "[\\s\\S]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end === -1) re += "\\[";
      else {
        re += `[${pattern.slice(i + 1, end).replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(re + "$");
}

class FakeRedis {
  constructor() {
    this.now = 0;
    this.data = new Map(); // key -> { value: string | Set<string>, expiresAt?: number }
    this.listeners = new Map(); // channel -> Set<{ client, callback }>
    this.calls = []; // [clientName, method, args]
  }
  advance(ms) {
    this.now += ms;
  }
  entry(key) {
    const e = this.data.get(key);
    if (e && e.expiresAt !== undefined && e.expiresAt <= this.now) {
      this.data.delete(key);
      return undefined;
    }
    return e;
  }
  ttl(key) {
    const e = this.entry(key);
    if (!e) return -2;
    return e.expiresAt === undefined ? -1 : Math.ceil((e.expiresAt - this.now) / 1000);
  }
  /** Values of string keys (not expired), for assertions. */
  strings() {
    const out = {};
    for (const key of [...this.data.keys()].sort()) {
      const e = this.entry(key);
      if (e && typeof e.value === "string") out[key] = e.value;
    }
    return out;
  }
  members(key) {
    const e = this.entry(key);
    return e && e.value instanceof Set ? [...e.value].sort() : [];
  }
  subscriberCount(channel) {
    return (this.listeners.get(channel) || new Set()).size;
  }
  callsOf(method, client) {
    return this.calls.filter(([c, m]) => m === method && (client === undefined || c === client)).map(([, , a]) => a);
  }

  /**
   * A client on this fake. `omit` leaves methods out (e.g. ["setEx", "sAdd"]); `name` tags
   * its calls in `calls`.
   */
  client(name, { omit = [] } = {}) {
    const world = this;
    const log = (method, args) => world.calls.push([name, method, args]);
    const setString = (key, value, seconds) => {
      world.data.set(key, { value: String(value), expiresAt: seconds === undefined ? undefined : world.now + seconds * 1000 });
      return "OK";
    };
    const flat = (members) => members.flat().map(String);
    const methods = {
      async get(key) {
        log("get", [key]);
        const e = world.entry(key);
        return e && typeof e.value === "string" ? e.value : null;
      },
      async set(key, value, options) {
        log("set", [key, value, options]);
        return setString(key, value, options && options.EX);
      },
      async setEx(key, seconds, value) {
        log("setEx", [key, seconds, value]);
        return setString(key, value, seconds);
      },
      async setex(key, seconds, value) {
        log("setex", [key, seconds, value]);
        return setString(key, value, seconds);
      },
      async del(keys) {
        log("del", [keys]);
        let n = 0;
        for (const key of [].concat(keys)) if (world.entry(key) && world.data.delete(key)) n++;
        return n;
      },
      async exists(keys) {
        log("exists", [keys]);
        return [].concat(keys).filter((k) => world.entry(k)).length;
      },
      async keys(pattern) {
        log("keys", [pattern]);
        const re = globToRegExp(pattern);
        return [...world.data.keys()].filter((k) => world.entry(k) && re.test(k));
      },
      async expire(key, seconds) {
        log("expire", [key, seconds]);
        const e = world.entry(key);
        if (!e) return 0;
        e.expiresAt = world.now + seconds * 1000;
        return 1;
      },
      async sAdd(key, ...members) {
        log("sAdd", [key, ...members]);
        let e = world.entry(key);
        if (!e) world.data.set(key, (e = { value: new Set() }));
        let n = 0;
        for (const m of flat(members)) if (!e.value.has(m) && e.value.add(m)) n++;
        return n;
      },
      async sRem(key, ...members) {
        log("sRem", [key, ...members]);
        const e = world.entry(key);
        if (!e) return 0;
        let n = 0;
        for (const m of flat(members)) if (e.value.delete(m)) n++;
        return n;
      },
      async sMembers(key) {
        log("sMembers", [key]);
        const e = world.entry(key);
        return e ? [...e.value] : [];
      },
      async publish(channel, message) {
        log("publish", [channel, message]);
        const targets = [...(world.listeners.get(channel) || [])];
        // Delivered later, like a message arriving on a socket.
        setImmediate(() => {
          for (const t of targets) t.callback(message, channel);
        });
        return targets.length;
      },
      async subscribe(channel, callback) {
        log("subscribe", [channel]);
        if (!world.listeners.has(channel)) world.listeners.set(channel, new Set());
        world.listeners.get(channel).add({ client: name, callback });
      },
      async unsubscribe(channel) {
        log("unsubscribe", [channel]);
        const set = world.listeners.get(channel);
        if (set) for (const t of [...set]) if (t.client === name) set.delete(t);
      },
      async quit() {
        log("quit", []);
        return "OK";
      },
    };
    for (const m of omit) delete methods[m];
    return methods;
  }
}

module.exports = { FakeRedis, globToRegExp };
