#!/usr/bin/env node
// mlc is written in TypeScript and runs from source through tsx's loader (no build step).
import { register } from "tsx/esm/api";

register();
await import("../compiler/cli/main.ts");
