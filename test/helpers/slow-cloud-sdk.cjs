// Preloaded into a test's server processes (NODE_OPTIONS=--require): the first load of Google's
// Cloud KMS SDK in each process takes KEYHOLD_TEST_SLOW_SDK_MS longer, synchronously, as it does on
// a loaded machine (a second or more), so that a test can see what such a stop does to a cluster.
'use strict';
const Module = require('node:module');

const extraMs = Number(process.env.KEYHOLD_TEST_SLOW_SDK_MS ?? '2500');
const load = Module._load;
let slowed = false;
Module._load = function slowFirstCloudSdkLoad(request, ...rest) {
  if (!slowed && /[\\/]@google-cloud[\\/]kms[\\/]/.test(request)) {
    slowed = true;
    const until = Date.now() + extraMs;
    while (Date.now() < until) {
      // The event loop stops here, as it does while a large SDK's modules load.
    }
  }
  return load.call(this, request, ...rest);
};
