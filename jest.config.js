// ESM + TypeScript through ts-jest in transpile-only mode (`tsc -b` does the type checking).
// jest 29 + ts-jest, not jest 30 / @swc/jest: those pull per-platform native packages
// (@parcel/watcher, unrs-resolver, @swc/core-*) that the npm mirror used here cannot resolve for
// other platforms, which leaves package-lock.json unusable by `npm ci`.
const tsJest = [
  'ts-jest',
  {
    useESM: true,
    // isolatedModules in the tsconfig below makes ts-jest transpile only (no type checking;
    // tsc -b does that), without its deprecated top-level option.
    tsconfig: {
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      target: 'ES2022',
      verbatimModuleSyntax: false,
      isolatedModules: true,
      esModuleInterop: true,
      resolveJsonModule: true,
      sourceMap: true,
    },
    diagnostics: false,
  },
];

const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': tsJest },
  moduleNameMapper: {
    '^@modelship/core$': '<rootDir>/packages/core/src/index.ts',
    // In-process action tests (actions/*/test) run the glue's source, as core's.
    '^@modelship/action-common$': '<rootDir>/actions/common/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testEnvironment: 'node',
};

/** @type {import('jest').Config} */
export default {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/packages/*/test/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/**/*.test.ts', '<rootDir>/actions/*/test/**/*.test.ts'],
    },
  ],
  testTimeout: 60000,
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.cjs'],
};
