export * from './types.js';
export { POLICY_SCHEMA } from './schema.js';
export { githubIdentityRegex, loadPolicy, parsePolicy, policyDigest } from './parse.js';
