export * from './types.js';
export * from './statement.js';
export * from './bundle.js';
