"use strict";
// compose.yaml cannot run here (no Docker engine on these machines), so it is checked
// statically: it parses as YAML, and it describes the same fleet as `npm run start:fleet`
// (LAYOUT in examples/fleet/fleet.mjs, which fleet.test.js runs): the same Redis, the same
// instances running the same command and judged ready by the same endpoint, nginx in front
// (once they are) with round robin and no stickiness, SSE unbuffered, on the same public port. nginx.conf itself was checked by hand with
// `nginx -t` and by running it in front of the Node fleet's instances.
const fs = require("node:fs");
const path = require("node:path");
const YAML = require("yaml");
const { ROOT } = require("./helpers/impls");
const { runNode } = require("./helpers/child");
const { FLEET } = require("./helpers/fleet");

let compose;
let layout;
let nginx;

beforeAll(async () => {
  compose = YAML.parse(fs.readFileSync(path.join(ROOT, "compose.yaml"), "utf8"), { merge: true, strict: true, uniqueKeys: true });
  const r = await runNode(["--input-type=module", "-e", `import(${JSON.stringify(FLEET)}).then((m) => console.log(JSON.stringify(m.LAYOUT)))`]);
  expect(r.code).toBe(0);
  layout = JSON.parse(r.stdout);
  const lbVolume = compose.services.lb.volumes.find((v) => v.endsWith(":/etc/nginx/conf.d/default.conf:ro"));
  nginx = fs.readFileSync(path.join(ROOT, lbVolume.split(":")[0]), "utf8").replace(/#.*$/gm, "");
});

test("compose.yaml parses and has Redis, the fleet's instances and a load balancer", () => {
  expect(Object.keys(compose.services).sort()).toEqual(["lb", "redis", ...layout.instances].sort());
  expect(compose.services.redis.image).toMatch(/^redis:/);
  expect(compose.services.redis.command).toEqual(layout.redis);
});

test("each instance runs the fleet's command on the shared Redis, built from this checkout", () => {
  for (const name of layout.instances) {
    const s = compose.services[name];
    expect(s.command).toEqual(layout.command);
    expect(s.environment).toEqual({ REDIS_URL: "redis://redis:6379", HOST: "0.0.0.0", PORT: "3000", INSTANCE: name });
    expect(s.depends_on).toEqual({ redis: { condition: "service_healthy" } });
    // healthy when the instance's readiness endpoint (the one start:fleet waits for) answers 200
    const [cmd, node, flag, script] = s.healthcheck.test;
    expect([cmd, node, flag]).toEqual(["CMD", "node", "-e"]);
    expect(script).toContain(`fetch('http://localhost:${s.environment.PORT}${layout.readiness}')`);
    expect(script).toMatch(/process\.exit\(r\.ok \? 0 : 1\), \(\) => process\.exit\(1\)/);
    expect(fs.existsSync(path.join(ROOT, s.build.context, s.build.dockerfile))).toBe(true);
    const dockerfile = fs.readFileSync(path.join(ROOT, s.build.dockerfile), "utf8");
    expect(dockerfile).toContain(`CMD ${JSON.stringify(layout.command).replace(/,/g, ", ")}`);
    expect(dockerfile).toMatch(/^RUN npm ci /m); // the committed lock, as CI installs
  }
});

test("nginx: round robin over exactly those instances, no stickiness, SSE unbuffered, on the fleet's public port", () => {
  const upstream = /upstream\s+(\w+)\s*\{([^}]*)\}/.exec(nginx);
  expect(upstream).not.toBeNull();
  const servers = [...upstream[2].matchAll(/^\s*server\s+([^;\s]+)/gm)].map((m) => m[1]);
  expect(servers).toEqual(layout.instances.map((name) => `${name}:${compose.services[name].environment.PORT}`));
  expect(upstream[2]).not.toMatch(/\b(ip_hash|hash|sticky|least_conn|random)\b/);
  expect(nginx).toMatch(new RegExp(`proxy_pass\\s+http://${upstream[1]};`));
  expect(nginx).toMatch(/proxy_buffering\s+off;/);
  expect(nginx).toMatch(/proxy_http_version\s+1\.1;/);
  const listen = /listen\s+(\d+);/.exec(nginx)[1];
  expect(compose.services.lb.ports).toEqual([`${layout.publicPort}:${listen}`]);
  expect(compose.services.lb.depends_on).toEqual(Object.fromEntries(layout.instances.map((name) => [name, { condition: "service_healthy" }])));
});
