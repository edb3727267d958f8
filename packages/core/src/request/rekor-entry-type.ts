/** The Rekor entry kinds a DSSE bundle can be logged as; dsse is the default (sign/setup.ts). */
export const REKOR_ENTRY_TYPES = ['dsse', 'intoto'] as const satisfies readonly ('dsse' | 'intoto')[];
