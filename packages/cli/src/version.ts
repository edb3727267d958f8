/**
 * The CLI version: core's MODELSHIP_VERSION, the one every front end records. A unit test
 * keeps it equal to packages/cli/package.json.
 */
export { MODELSHIP_VERSION as VERSION } from '@modelship/core';
