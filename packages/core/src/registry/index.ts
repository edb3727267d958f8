export { RegistryStore, type RegistryStoreOptions } from './registry-store.js';
export { parseChallenges, TokenCache, scopeKey, repositoryScope, type Challenge, type Credential } from './auth.js';
export {
  lookupDockerCredential,
  runCredentialHelper,
  dockerConfigPath,
  credentialKey,
  DOCKER_HUB_CONFIG_KEY,
  type DockerCredentialOptions,
} from './credentials.js';
export { chooseStrategy, isMonolithicOnly, type UploadStrategy } from './upload.js';
export {
  checkRegistryLogin,
  registryLogin,
  registryLogout,
  saveDockerLogin,
  type RegistryLoginOptions,
  type RegistryLoginResult,
  type RegistryLogoutResult,
} from './login.js';
