export * from './components.js';
export { evaluateMof } from './evaluate.js';
export {
  isOpenLicenseId,
  isTypeAppropriateId,
  judgeLicense,
  MOF_LICENSE_LISTS,
  type LicenseVerdict,
} from './licenses.js';
export * from './overrides.js';
export * from './predicate.js';
export * from './types.js';
