export * from './facts.js';
export * from './attest.js';
