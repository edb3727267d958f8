export * from './types.js';
export * from './statement.js';
export * from './bundle.js';
export * from './referrer.js';
export * from './sign.js';
export * from './setup.js';
export * from './keyless.js';
export * from './keys.js';
