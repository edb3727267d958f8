#!/usr/bin/env node
// Compiled by `npm ci` (root prepare: tsc -b). Source: packages/cli/src.
import '../lib/bin.js';
