#!/usr/bin/env node
// The `dispatch` command. The TypeScript is compiled to dist/ by scripts/setup.mjs.
import "../dist/cli/main.js";
