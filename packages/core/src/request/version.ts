/**
 * The modelship version every front end records (the CLI's `--version`, builder.version in
 * local SLSA provenance, the promotion record). A constant rather than a package.json read at
 * run time, because the ncc bundles (dist/*) have no package.json beside them; a unit test
 * keeps it equal to packages/core/package.json and packages/cli/package.json.
 */
export const MODELSHIP_VERSION = '0.1.0';
