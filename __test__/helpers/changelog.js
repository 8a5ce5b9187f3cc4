"use strict";
// What makes CHANGELOG.md a Keep a Changelog file (https://keepachangelog.com/en/1.1.0/):
// "# Changelog"; an "## [Unreleased]" section first; then "## [x.y.z] - YYYY-MM-DD" releases,
// newest first; inside a section only the six kinds of change as "###" headings, each once
// and each with at least one "- " entry. problems(text) lists what breaks those rules.

const KINDS = ["Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"];
const RELEASE = /^\[((\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?)\] - (\d{4}-\d{2}-\d{2})$/;

/** -> [{ heading, name: "1.2.3", version: [1, 2, 3], date, kinds: { Added: [entries...] }, repeated }] */
function sections(text) {
  const out = [];
  let section;
  let kind;
  for (const line of text.split("\n")) {
    const h2 = /^## (.*)$/.exec(line);
    const h3 = /^### (.*)$/.exec(line);
    if (h2) {
      const m = RELEASE.exec(h2[1]);
      section = { heading: h2[1], name: m && m[1], version: m && m.slice(2, 5).map(Number), date: m && m[5], kinds: {}, repeated: [] };
      out.push(section);
      kind = undefined;
    } else if (h3 && section) {
      kind = h3[1];
      if (section.kinds[kind]) section.repeated.push(kind);
      section.kinds[kind] = [];
    } else if (/^- /.test(line) && kind) {
      section.kinds[kind].push(line.slice(2));
    }
  }
  return out;
}

function problems(text) {
  const found = [];
  const lines = text.split("\n");
  if (lines[0] !== "# Changelog") found.push('the first line is not "# Changelog"');
  if (!text.includes("https://keepachangelog.com/")) found.push("no link to keepachangelog.com");
  for (const line of lines.slice(1)) if (/^# /.test(line) || /^#{4,} /.test(line)) found.push(`a heading of another level: ${line}`);
  const all = sections(text);
  if (!all.length || all[0].heading !== "[Unreleased]") found.push('the first section is not "## [Unreleased]"');
  const releases = all.filter((s) => s.heading !== "[Unreleased]");
  for (const s of releases) {
    if (!s.version) found.push(`"## ${s.heading}" is not "## [x.y.z] - YYYY-MM-DD"`);
    else if (Number.isNaN(Date.parse(`${s.date}T00:00:00Z`))) found.push(`"## ${s.heading}": not a date`);
  }
  for (let i = 1; i < releases.length; i++) {
    const [a, b] = [releases[i - 1], releases[i]];
    if (!a.version || !b.version) continue;
    const newer = a.version.findIndex((n, j) => n !== b.version[j]);
    if (newer < 0 || a.version[newer] < b.version[newer]) found.push(`[${a.version.join(".")}] is listed before [${b.version.join(".")}]: newest first`);
    if (a.date < b.date) found.push(`[${a.version.join(".")}] is dated before [${b.version.join(".")}]`);
  }
  for (const s of all) {
    for (const kind of Object.keys(s.kinds)) {
      if (!KINDS.includes(kind)) found.push(`"### ${kind}" under ${s.heading} is none of ${KINDS.join(", ")}`);
      else if (!s.kinds[kind].length) found.push(`"### ${kind}" under ${s.heading} has no entries`);
    }
    for (const kind of s.repeated) found.push(`"### ${kind}" twice under ${s.heading}`);
    if (s.heading !== "[Unreleased]" && !Object.keys(s.kinds).length) found.push(`${s.heading} lists no changes`);
  }
  return found;
}

/** The released versions, newest first: ["0.1.0", ...]. */
function releases(text) {
  return sections(text)
    .filter((s) => s.name)
    .map((s) => s.name);
}

module.exports = { problems, releases, KINDS };
