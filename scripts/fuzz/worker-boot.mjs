// Starts a fuzzer worker thread: registers tsx's loader in this thread, then loads the TypeScript
// worker (a worker started from vitest or plain node has no TypeScript loader of its own).
import { register } from "tsx/esm/api";

register();
await import("./worker.ts");
