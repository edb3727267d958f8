import { ModelshipError } from '../errors.js';
import type { RegistryAccess } from '../target.js';

/** Registry settings as a front end collected them (flags, inputs, environment). */
export interface RegistryAccessFields {
  username?: string | undefined;
  /** Undefined: none given. "" from an action input means none too (inputs cannot be unset). */
  password?: string | undefined;
  plainHttp?: boolean | undefined;
  insecure?: boolean | undefined;
  dockerConfig?: string | undefined;
}

/** How a front end names its username and password settings, for the messages. */
export interface CredentialLabels {
  username: string;
  password: string;
}

/**
 * Registry access from front-end fields. A password without a username is refused: it would
 * otherwise be dropped silently and docker config.json used instead. Without a username the
 * credentials come from docker config.json (per host).
 */
export function registryAccess(fields: RegistryAccessFields, labels: CredentialLabels): RegistryAccess {
  const access: RegistryAccess = {};
  if (fields.plainHttp) access.plainHttp = true;
  if (fields.insecure) access.insecure = true;
  if (fields.dockerConfig) access.dockerConfig = fields.dockerConfig;
  const { username, password } = fields;
  if (password && !username)
    throw new ModelshipError('USAGE', `a password (${labels.password}) was given without a username`, {
      hint: `set ${labels.username} too`,
    });
  if (username) {
    access.username = username;
    if (password !== undefined) access.password = password;
  }
  return access;
}

/**
 * The password a front end read from standard input (`--password-stdin`): one trailing newline
 * dropped, as `docker login --password-stdin` does. Empty input is refused here, naming the
 * setting: read as "no password" it surfaced only at the registry, as "no credentials were
 * found", which sent users looking at docker config.json.
 */
export function passwordFromStdin(text: string, label: string): string {
  const password = text.replace(/\r?\n$/, '');
  if (password === '')
    throw new ModelshipError('USAGE', `${label} read an empty password: standard input was empty`, {
      hint: 'pipe the password or token in, e.g. printf %s "$TOKEN" | modelship …',
    });
  return password;
}
