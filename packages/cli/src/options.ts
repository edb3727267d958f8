import { Option, type Command } from 'commander';
import { ModelshipError, type RegistryAccess } from '@modelship/core';
import type { CliIO } from './io.js';

export interface RegistryFlags {
  plainHttp?: boolean;
  insecure?: boolean;
  username?: string;
  passwordStdin?: boolean;
  registryConfig?: string;
}

/** Registry flags shared by every command that talks to a registry (same names as oras/cosign). */
export function addRegistryOptions(cmd: Command): Command {
  return cmd
    .option('--plain-http', 'talk HTTP, not HTTPS, to the registry (local test registries only)')
    .option('--insecure', 'skip TLS certificate verification')
    .option('-u, --username <user>', 'registry username (env MODELSHIP_REGISTRY_USERNAME)')
    .option('--password-stdin', 'read the registry password or token from standard input')
    .addOption(
      new Option('--registry-config <path>', 'docker config.json to read credentials from').env('DOCKER_CONFIG_FILE'),
    );
}

export async function registryAccess(flags: RegistryFlags, io: CliIO): Promise<RegistryAccess> {
  const access: RegistryAccess = {};
  if (flags.plainHttp) access.plainHttp = true;
  if (flags.insecure) access.insecure = true;
  if (flags.registryConfig) access.dockerConfig = flags.registryConfig;
  const username = flags.username ?? io.env.MODELSHIP_REGISTRY_USERNAME;
  let password = io.env.MODELSHIP_REGISTRY_PASSWORD;
  if (flags.passwordStdin) password = (await io.readStdin()).replace(/\r?\n$/, '');
  if (password !== undefined && password !== '' && !username)
    throw new ModelshipError('USAGE', 'a registry password was given without a username', {
      hint: 'add --username USER (or MODELSHIP_REGISTRY_USERNAME)',
    });
  if (username) {
    access.username = username;
    if (password !== undefined) access.password = password;
  }
  return access;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
