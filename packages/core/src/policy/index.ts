export * from './types.js';
export { POLICY_SCHEMA } from './schema.js';
export { githubIdentityRegex, loadPolicy, parsePolicy, policyDigest } from './parse.js';
export {
  EXPORT_TARGETS,
  exportPolicy,
  loadExportInputs,
  type ExportInputs,
  type ExportPolicyOptions,
  type ExportTarget,
  type PolicyExport,
} from './export.js';
export { toRe2, type Re2Result } from './re2.js';
