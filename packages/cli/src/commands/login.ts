import { Option, type Command } from 'commander';
import { ModelshipError, parseRegistryHost, registryLogin, registryLogout } from '@modelship/core';
import { printResult, safe, type CliIO } from '../io.js';

interface LoginFlags {
  username?: string;
  passwordStdin?: boolean;
  password?: string;
  plainHttp?: boolean;
  insecure?: boolean;
  registryConfig?: string;
  json?: boolean;
}

const CONFIG_HELP = 'docker config.json to write (default $DOCKER_CONFIG/config.json, else ~/.docker/config.json)';

/** `login HOST` and `logout HOST`, the docker config.json every other verb reads credentials from. */
export function registerLogin(program: Command, io: CliIO): void {
  program
    .command('login')
    .description('check registry credentials and save them in the docker config.json, as docker login does')
    .argument('<host>', 'registry host[:port] (docker.io for Docker Hub)')
    .option('-u, --username <user>', 'registry username (asked on a terminal when not given)')
    .option('--password-stdin', 'read the password or token from standard input (else asked on a terminal)')
    // Refused with a reason: a password in argv is in the shell history and in `ps`.
    .addOption(new Option('-p, --password <password>').hideHelp())
    .option('--plain-http', 'talk HTTP, not HTTPS, to the registry (local test registries only)')
    .option('--insecure', 'skip TLS certificate verification')
    .addOption(new Option('--registry-config <path>', CONFIG_HELP).env('DOCKER_CONFIG_FILE'))
    .option('--json', 'print the result as JSON')
    .action(async (host: string, flags: LoginFlags) => {
      const registry = parseRegistryHost(host, 'HOST');
      if (flags.password !== undefined)
        throw new ModelshipError('USAGE', 'a password is never taken on the command line', {
          hint: 'pipe it to --password-stdin (printf %s "$TOKEN" | modelship login HOST -u USER --password-stdin), or type it at the prompt',
        });
      const username = flags.username ?? (await ask(io, 'Username: ', false));
      if (!username) throw new ModelshipError('USAGE', 'the username is empty', { hint: 'pass --username USER' });
      const password = flags.passwordStdin
        ? (await io.readStdin()).replace(/\r?\n$/, '')
        : await ask(io, 'Password: ', true);
      if (!password)
        throw new ModelshipError('USAGE', 'the password is empty', {
          hint: flags.passwordStdin ? 'pipe the password or token to --password-stdin' : 'type the password or token',
        });
      const r = await registryLogin({
        registry,
        username,
        password,
        ...(flags.plainHttp ? { plainHttp: true } : {}),
        ...(flags.insecure ? { insecure: true } : {}),
        ...(flags.registryConfig ? { configPath: flags.registryConfig } : {}),
        env: io.env,
      });
      const where = r.helper ? `credential helper docker-credential-${r.helper}` : r.configPath;
      printResult(io, flags.json, {
        text: safe`logged in to ${registry} as ${username} (saved in ${where})\n`,
        json: { registry, username, key: r.key, configPath: r.configPath, helper: r.helper ?? null },
      });
    });

  program
    .command('logout')
    .description("remove a registry's credentials from the docker config.json, as docker logout does")
    .argument('<host>', 'registry host[:port] (docker.io for Docker Hub)')
    .addOption(new Option('--registry-config <path>', CONFIG_HELP).env('DOCKER_CONFIG_FILE'))
    .option('--json', 'print the result as JSON')
    .action(async (host: string, flags: Pick<LoginFlags, 'registryConfig' | 'json'>) => {
      const registry = parseRegistryHost(host, 'HOST');
      const r = await registryLogout(registry, {
        ...(flags.registryConfig ? { configPath: flags.registryConfig } : {}),
        env: io.env,
      });
      printResult(io, flags.json, {
        text: r.removed.length
          ? safe`logged out of ${registry} (removed from ${r.configPath})\n`
          : safe`not logged in to ${registry} (${r.configPath} has no entry for it)\n`,
        json: { registry, configPath: r.configPath, removed: r.removed, helper: r.helper ?? null },
      });
    });
}

/** A question on the terminal, or USAGE naming the flag when standard input is not one. */
async function ask(io: CliIO, prompt: string, hidden: boolean): Promise<string> {
  if (!io.terminal)
    throw new ModelshipError(
      'USAGE',
      `no ${hidden ? 'password' : 'username'} given, and standard input is not a terminal to ask on`,
      { hint: hidden ? 'pipe the password or token to --password-stdin' : 'pass --username USER' },
    );
  return (hidden ? io.terminal.secret(prompt) : io.terminal.line(prompt)).then((a) => (hidden ? a : a.trim()));
}
