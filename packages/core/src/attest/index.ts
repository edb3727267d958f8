export * from './facts.js';
export * from './cards.js';
export * from './attest.js';
export * from './provenance.js';
export * from './files.js';
export * from './mof/index.js';
export * from './github.js';
export * from './sbom/index.js';
