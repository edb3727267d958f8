// The layout store lives in layout/ (blobs, index.json, tags, referrers); this path stays for callers.
export * from './layout/index.js';
