// Backward-only ops: the ones the VJPs of conv2d and the 2-D pools emit. They are never written
// in a model; autodiff creates them, and every later pass and backend treats them as ordinary
// ops. The records live next to each other by family: conv-grad.ts and pool-grad.ts.

import type { OpDef } from "../op-def.ts";
import { CONV_GRAD_OPS } from "./conv-grad.ts";
import { POOL_GRAD_OPS } from "./pool-grad.ts";

export const NN_GRAD_OPS: readonly OpDef[] = [...CONV_GRAD_OPS, ...POOL_GRAD_OPS];
