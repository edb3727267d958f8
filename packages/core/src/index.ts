export * from './errors.js';
export * from './mediatypes.js';
export * from './oci.js';
export * from './store.js';
export * from './digest.js';
