"use strict";
// Error assertions that work across realms: the implementations are loaded with Node's own
// require (see environment.js), so their errors are not instances of jest's TypeError.

/** Awaits `promise`, expects a rejection whose name is `name` and whose message matches `re`. */
async function expectRejection(promise, name, re = /./) {
  let err = null;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  expect(err).not.toBeNull();
  expect({ name: err.name, message: err.message }).toEqual({ name, message: expect.stringMatching(re) });
}

/** Calls `fn`, expects it to throw an error named `name` whose message matches `re`. */
function expectThrow(fn, name, re = /./) {
  let err = null;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).not.toBeNull();
  expect({ name: err.name, message: err.message }).toEqual({ name, message: expect.stringMatching(re) });
}

module.exports = { expectRejection, expectThrow };
