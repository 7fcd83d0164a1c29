#!/usr/bin/env node
// The compiled CLI (npm run build). See src/cli/main.ts.
require('../dist/src/cli/main.js').run();
