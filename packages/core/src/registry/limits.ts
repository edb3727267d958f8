import { ModelshipError } from '../errors.js';
import { formatBytes } from '../progress.js';
import { isDockerHub } from '../reference.js';

const MiB = 1024 * 1024;

/**
 * What a registry is known to refuse, so a push fails before the first byte instead of after
 * gigabytes. The figures and their sources are in docs/cli.md ("Resumable pushes and registry limits");
 * a registry not listed here has no known limit (OCI distribution itself sets none).
 */
export interface RegistryLimits {
  /** Display name. */
  name: string;
  /** Largest blob the registry stores, in bytes. */
  maxBlob?: number;
  /** Why maxBlob applies (shown in the error). */
  maxBlobNote?: string;
  /** A monolithic PUT above this is refused: chunk above it. */
  maxMonolithic?: number;
  /** PATCH chunks (all but the last) must be at least this long. */
  minChunk?: number;
  /** The registry's upload status GET cannot be trusted (or is missing): no resume across runs. */
  noResume?: boolean;
}

function bare(host: string): string {
  return host.toLowerCase().replace(/:\d+$/, '');
}

/** The known limits of `host` (API host or the name the user gave), or undefined. */
export function registryLimits(host: string): RegistryLimits | undefined {
  const h = bare(host);
  if (h === 'ghcr.io') return { name: 'GHCR (ghcr.io)', maxBlob: 10 * 1000 * 1000 * 1000 };
  if (/^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/.test(h))
    return { name: 'Amazon ECR', maxBlob: 52_000 * MiB, minChunk: 5 * MiB, noResume: true };
  if (h === 'public.ecr.aws')
    return { name: 'Amazon ECR Public', maxBlob: 10_000 * MiB, minChunk: 5 * MiB, noResume: true };
  if (h === 'quay.io')
    return {
      name: 'Quay (quay.io)',
      maxBlob: 20 * 1000 * 1000 * 1000,
      maxBlobNote: 'in one upload; quay.io does not take chunked uploads',
      maxMonolithic: 20 * 1000 * 1000 * 1000,
    };
  if (isDockerHub(h)) return { name: 'Docker Hub', maxMonolithic: 64 * MiB };
  return undefined;
}

/**
 * Refuses a layer the registry is known not to take (ModelshipError INPUT, exit 3). Needs no
 * network and reads nothing: called with the size from the descriptor or the file's stat.
 */
export function checkLayerSize(host: string, layer: string, size: number): void {
  const limits = registryLimits(host);
  if (!limits?.maxBlob || size <= limits.maxBlob) return;
  throw new ModelshipError(
    'INPUT',
    `${layer} is ${formatBytes(size)} (${size} bytes), over the ${formatBytes(limits.maxBlob)} (${limits.maxBlob} bytes) per-layer limit of ${limits.name}${limits.maxBlobNote ? ` ${limits.maxBlobNote}` : ''}`,
    {
      hint: `shard the weights into files under the limit (e.g. safetensors shards, as save_pretrained(max_shard_size=...) writes them), or push to another registry; nothing was uploaded`,
    },
  );
}
