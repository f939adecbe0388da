// The worker thread of checkpoint-rows.ts: plans the training program under each requested
// checkpoint policy and posts the rows back, keyed by policyKey.

import { parentPort, workerData } from "node:worker_threads";
import { loadBackend } from "../driver/index.ts";
import { checkpointRows, policyKey, type CheckpointRow } from "./memory-report.ts";
import type { RowsRequest } from "./checkpoint-rows.ts";

const request = workerData as RowsRequest;
const backend = await loadBackend(request.target, { emit: false });
const timing = request.timeLimitMs !== undefined ? { timeLimitMs: request.timeLimitMs } : {};
const rows = checkpointRows(request.forward, { training: request.training, backend, front: request.front, ...timing }, request.policies);
parentPort!.postMessage(request.policies.map((p, i): [string, CheckpointRow] => [policyKey(p.mode, p.budgetBytes), rows[i]]));
