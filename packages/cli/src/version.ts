/**
 * The CLI version. A constant rather than a package.json read at run time, because the ncc
 * bundle (dist/cli, what actions/setup installs) has no package.json beside it. A unit test
 * keeps it equal to packages/cli/package.json.
 */
export const VERSION = '0.1.0';
