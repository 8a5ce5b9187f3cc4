"use strict";
// A Dockerfile read into its stages, for the static checks of files no Docker engine here can
// build. Only what those files use: comments and parser directives, backslash continuations,
// instruction flags (--from=, --mount=), and the exec (JSON) form of CMD.

const KNOWN = new Set(["FROM", "RUN", "COPY", "WORKDIR", "ENV", "CMD", "EXPOSE", "USER", "ARG", "LABEL"]);

/** Instruction lines: comments dropped, continuations joined. */
function instructions(text) {
  const out = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!pending && (line === "" || line.startsWith("#"))) continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    out.push(pending + line);
    pending = "";
  }
  if (pending) throw new Error(`Dockerfile ends inside a continued line: ${pending}`);
  return out;
}

/** "--from=build --chown=x a b ./dest" -> { flags: { from: "build", chown: "x" }, words: ["a", "b", "./dest"] } */
function splitFlags(rest) {
  const flags = {};
  const words = [];
  for (const w of rest.split(/\s+/).filter(Boolean)) {
    const m = /^--([a-z-]+)=(.*)$/.exec(w);
    if (m && words.length === 0) flags[m[1]] = m[2];
    else words.push(w);
  }
  return { flags, words };
}

/** ENV a=1 b=2 (the key=value form) -> { a: "1", b: "2" } */
function envPairs(rest) {
  const env = {};
  for (const w of rest.split(/\s+/).filter(Boolean)) {
    const i = w.indexOf("=");
    if (i <= 0) throw new Error(`ENV ${rest}: only the key=value form is read here`);
    env[w.slice(0, i)] = w.slice(i + 1);
  }
  return env;
}

/**
 * parse(text) -> [{ from, name, workdir, env, runs: [{ flags, command }], copies: [{ flags, sources, dest }], cmd, user, expose }]
 */
function parse(text) {
  const stages = [];
  for (const line of instructions(text)) {
    const [, op, rest = ""] = /^(\S+)\s*(.*)$/.exec(line);
    const instr = op.toUpperCase();
    if (!KNOWN.has(instr)) throw new Error(`unknown Dockerfile instruction: ${line}`);
    if (instr === "FROM") {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!m) throw new Error(`cannot read ${line}`);
      stages.push({ from: m[1], name: m[2], workdir: "/", env: {}, runs: [], copies: [], cmd: undefined, user: undefined, expose: [] });
      continue;
    }
    const stage = stages[stages.length - 1];
    if (!stage) throw new Error(`${instr} before any FROM`);
    if (instr === "WORKDIR") stage.workdir = rest.startsWith("/") ? rest : `${stage.workdir.replace(/\/$/, "")}/${rest}`;
    else if (instr === "ENV") Object.assign(stage.env, envPairs(rest));
    else if (instr === "USER") stage.user = rest;
    else if (instr === "EXPOSE") stage.expose.push(...rest.split(/\s+/));
    else if (instr === "CMD") stage.cmd = JSON.parse(rest);
    else if (instr === "RUN") {
      const { flags, words } = splitFlags(rest);
      stage.runs.push({ flags, command: words.join(" ") });
    } else if (instr === "COPY") {
      const { flags, words } = splitFlags(rest);
      if (words.length < 2) throw new Error(`COPY needs a source and a destination: ${line}`);
      stage.copies.push({ flags, sources: words.slice(0, -1), dest: words[words.length - 1] });
    }
  }
  return stages;
}

/**
 * ignored(dockerignoreText) -> (relativePath) => whether the build context leaves it out.
 * Docker's rules for the patterns used here: relative to the context root, `*` within one path
 * segment, `**` across segments, a pattern that matches a directory leaves out all under it,
 * and a later `!pattern` takes a path back.
 */
function ignored(text) {
  const rules = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const negate = l.startsWith("!");
      const glob = (negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, "");
      const source = glob
        .split("/")
        .map((seg) => (seg === "**" ? ".*" : seg.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")))
        .join("/");
      return { negate, re: new RegExp(`^${source}(/.*)?$`) };
    });
  return (rel) => rules.reduce((out, r) => (r.re.test(rel) ? !r.negate : out), false);
}

module.exports = { parse, ignored };
