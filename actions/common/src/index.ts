// Glue shared by the modelship actions, in three parts that do not import each other in a
// circle: inputs (read once by each index.ts), outputs and the job summary (written by run()
// through an ActionContext), and the context that carries them.
export * from './inputs.js';
export * from './outputs.js';
export * from './summary.js';
export * from './context.js';
export * from './pack-step.js';
export * from './input-names.js';
