"use strict";
// A package-lock.json for a fresh project whose dependencies the checkout already locks
// (examples/app: mcp-use): those packages and everything they need, at the versions, places,
// resolved URLs and integrities of the checkout's own package-lock.json. With it,
// `npm ci --offline` installs them from npm's cache, which the checkout's `npm ci` or
// `npm install` filled, without the registry: no packument is needed when every version is
// locked.

/** Where Node would find `name` from the package at lockfile path `from` (nested node_modules first). */
function resolveIn(packages, from, name) {
  let base = from;
  for (;;) {
    const key = `${base ? `${base}/` : ""}node_modules/${name}`;
    if (packages[key]) return key;
    if (!base) return null;
    const i = base.lastIndexOf("/node_modules/");
    base = i < 0 ? "" : base.slice(0, i);
  }
}

/**
 * lockfileFor(checkoutLock, appPackageJson) -> the app's package-lock.json. Each of the app's
 * dependencies must be locked by the checkout at exactly the version the app asks for (else
 * the app and the checkout's tests would run different versions). Dependencies, optional
 * dependencies and peer dependencies (npm installs peers) are followed; ones the checkout does
 * not have (optional peers it never installed) are left out, as npm left them out there.
 */
function lockfileFor(checkoutLock, app) {
  const packages = checkoutLock.packages;
  const seen = new Set();
  const queue = [];
  for (const [name, spec] of Object.entries(app.dependencies || {})) {
    const top = `node_modules/${name}`;
    if (!packages[top]) throw new Error(`the checkout's package-lock.json has no ${top}`);
    if (packages[top].version !== spec) throw new Error(`the app asks for ${name}@${spec}, the checkout locks ${packages[top].version}`);
    queue.push(top);
  }
  while (queue.length) {
    const key = queue.pop();
    if (seen.has(key)) continue;
    seen.add(key);
    const p = packages[key];
    for (const dep of Object.keys({ ...p.dependencies, ...p.optionalDependencies, ...p.peerDependencies })) {
      const found = resolveIn(packages, key, dep);
      if (found) queue.push(found);
    }
  }
  const root = { name: app.name, version: app.version, dependencies: app.dependencies };
  const lock = { name: app.name, version: app.version, lockfileVersion: 3, requires: true, packages: { "": root } };
  for (const key of [...seen].sort()) {
    // dev/optional/peer flags described the checkout's tree; npm works them out for this one.
    const { dev, devOptional, optional, peer, ...entry } = packages[key];
    lock.packages[key] = entry;
  }
  return lock;
}

module.exports = { lockfileFor };
