export * from './discover.js';
export * from './trust.js';
export * from './bundles.js';
export * from './evaluate.js';
export * from './model-refs.js';
export * from './slsa.js';
