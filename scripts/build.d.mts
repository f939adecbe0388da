// Types of scripts/build.mjs (plain JavaScript, so that npm's prepare runs it without tsx).

export declare const ROOT: string;
export declare const DIST: string;
export declare function sourceFingerprint(): { entries: number; newest: number };
export declare function buildState(): "missing" | "stale" | "fresh";
export declare function build(): Promise<{ modules: number; copied: number; removed: number; ms: number }>;
