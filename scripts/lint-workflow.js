'use strict'
// A structural check of a GitHub Actions workflow file, for CI here, where no runner can
// run it: YAML syntax (with duplicate keys as errors), the keys GitHub accepts for the
// workflow, its jobs and steps, `needs` naming real jobs, `${{ }}` expressions closed, and
// every `matrix.*` an expression reads defined by every matrix entry.
//
//   node scripts/lint-workflow.js .github/workflows/release.yml
//
// lint(text) -> [messages]; empty when the workflow passes (used by __test__/packaging.test.js).
const YAML = require('yaml')

const WORKFLOW_KEYS = ['name', 'run-name', 'on', 'permissions', 'env', 'defaults', 'concurrency', 'jobs']
const JOB_KEYS = ['name', 'needs', 'permissions', 'if', 'runs-on', 'environment', 'concurrency', 'outputs', 'env', 'defaults', 'steps', 'timeout-minutes', 'strategy', 'continue-on-error', 'container', 'services', 'uses', 'with', 'secrets']
const STEP_KEYS = ['id', 'if', 'name', 'uses', 'run', 'shell', 'with', 'env', 'continue-on-error', 'timeout-minutes', 'working-directory']
const EVENTS = ['push', 'pull_request', 'pull_request_target', 'workflow_dispatch', 'workflow_call', 'release', 'schedule', 'workflow_run', 'repository_dispatch', 'merge_group']
const PERMISSION_VALUES = ['read', 'write', 'none']

function isMap(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** Every string in `value`, with its path. */
function* strings(value, at) {
  if (typeof value === 'string') yield [at, value]
  else if (Array.isArray(value)) for (let i = 0; i < value.length; i++) yield* strings(value[i], `${at}[${i}]`)
  else if (isMap(value)) for (const [k, v] of Object.entries(value)) yield* strings(v, `${at}.${k}`)
}

function lint(text) {
  const errors = []
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: false })
  for (const e of doc.errors) errors.push(`YAML: ${e.message.split('\n')[0]}`)
  if (errors.length) return errors
  const wf = doc.toJS()
  if (!isMap(wf)) return ['the workflow is not a mapping']

  for (const k of Object.keys(wf)) if (!WORKFLOW_KEYS.includes(k)) errors.push(`unknown top-level key "${k}"`)
  if (wf.on === undefined) errors.push('no "on" (trigger)')
  const events = typeof wf.on === 'string' ? [wf.on] : Array.isArray(wf.on) ? wf.on : isMap(wf.on) ? Object.keys(wf.on) : []
  for (const e of events) if (!EVENTS.includes(e)) errors.push(`unknown event "${e}"`)
  const checkPermissions = (p, at) => {
    if (p === undefined || typeof p === 'string') return
    if (!isMap(p)) return errors.push(`${at}: permissions must be a mapping`)
    for (const [k, v] of Object.entries(p)) if (!PERMISSION_VALUES.includes(v)) errors.push(`${at}: permission ${k}: "${v}" is not read, write or none`)
  }
  checkPermissions(wf.permissions, 'workflow')

  if (!isMap(wf.jobs) || Object.keys(wf.jobs).length === 0) {
    errors.push('no jobs')
    return errors
  }
  for (const [id, job] of Object.entries(wf.jobs)) {
    const at = `jobs.${id}`
    if (!isMap(job)) {
      errors.push(`${at} is not a mapping`)
      continue
    }
    for (const k of Object.keys(job)) if (!JOB_KEYS.includes(k)) errors.push(`${at}: unknown key "${k}"`)
    checkPermissions(job.permissions, at)
    const needs = job.needs === undefined ? [] : [].concat(job.needs)
    for (const n of needs) if (!(n in wf.jobs)) errors.push(`${at}: needs "${n}", which is not a job`)
    if (job.uses) continue // a reusable workflow call
    if (job['runs-on'] === undefined) errors.push(`${at}: no runs-on`)
    if (!Array.isArray(job.steps) || job.steps.length === 0) errors.push(`${at}: no steps`)
    for (const [i, step] of (Array.isArray(job.steps) ? job.steps : []).entries()) {
      const sat = `${at}.steps[${i}]`
      if (!isMap(step)) {
        errors.push(`${sat} is not a mapping`)
        continue
      }
      for (const k of Object.keys(step)) if (!STEP_KEYS.includes(k)) errors.push(`${sat}: unknown key "${k}"`)
      if (('uses' in step) === ('run' in step)) errors.push(`${sat}: needs exactly one of uses and run`)
      if ('uses' in step && !/^([\w.-]+\/[\w./-]+@[\w.-]+|\.\/.+|docker:\/\/.+)$/.test(String(step.uses))) errors.push(`${sat}: uses "${step.uses}" is not owner/repo@ref`)
      if ('with' in step && !isMap(step.with)) errors.push(`${sat}: with must be a mapping`)
    }

    // matrix.* references: defined by every entry (include list, or a list-valued key of objects)
    const matrix = job.strategy && job.strategy.matrix
    const entries = []
    if (isMap(matrix)) {
      if (Array.isArray(matrix.include)) entries.push(...matrix.include.filter(isMap))
      for (const [k, v] of Object.entries(matrix)) {
        if (k === 'include' || k === 'exclude' || !Array.isArray(v)) continue
        if (entries.length === 0) entries.push(...v.map((x) => ({ [k]: x })))
      }
    }
    for (const [path, s] of strings(job, at)) {
      for (const m of s.matchAll(/\bmatrix\.([\w-]+)(?:\.([\w-]+))?/g)) {
        if (!matrix) {
          errors.push(`${path}: reads matrix.${m[1]} but the job has no matrix`)
          continue
        }
        for (const [n, entry] of entries.entries()) {
          const v = entry[m[1]]
          if (v === undefined) errors.push(`${path}: matrix entry ${n} has no "${m[1]}"`)
          else if (m[2] && (!isMap(v) || !(m[2] in v))) errors.push(`${path}: matrix entry ${n} has no "${m[1]}.${m[2]}"`)
        }
      }
    }
  }
  for (const [path, s] of strings(wf, 'workflow')) {
    const opens = (s.match(/\$\{\{/g) || []).length
    const closes = (s.match(/\}\}/g) || []).length
    if (opens !== closes) errors.push(`${path}: unbalanced \${{ }} expression`)
  }
  return [...new Set(errors)]
}

module.exports = { lint }

if (require.main === module) {
  const fs = require('node:fs')
  let bad = 0
  for (const file of process.argv.slice(2)) {
    const errors = lint(fs.readFileSync(file, 'utf8'))
    for (const e of errors) console.log(`${file}: ${e}`)
    if (errors.length) bad++
    else console.log(`${file}: ok`)
  }
  process.exit(bad ? 1 : 0)
}
