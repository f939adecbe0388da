// The parts of the generated name.d.ts that describe what the runtime checks (runtime/bundle-io.js):
// weights loading (finite values, the report of what a file fills) and index inputs checked before
// a call. Shared by the WASM and WebGPU bundle writers, whose runtimes check the same way.

/** Appended to the doc comment of each call that checks its index inputs. */
export const INDEX_CHECK_DOC =
  " Throws a RangeError before running when an input read as indices (class labels, gather indices: its field says its range) holds a value outside its range; the error names the input, the position, the value and the range, and the model's state is unchanged.";

/** Appended to loadWeights()'s doc comment. */
export const LOAD_WEIGHTS_DOC =
  " NaN/±Inf values are rejected (the error names the tensor and the first bad element) unless `opts.allowNonFinite`; a file that fills no param is an error. Returns which params were written and which the file leaves as they were.";

/** Appended to LoadOptions.weights' doc comment. */
export const LOAD_WEIGHTS_FILE_DOC =
  " Params it does not name take their initial values from that file, with a console warning listing them (optimizer state, pruning masks and QAT ranges, opt/*, acc/*, prune/* and qat/*, silently).";

/** The option and report types of loadWeights(). */
export const WEIGHTS_TYPES = `export interface WeightsOptions {
  /** Accept NaN/±Inf values (rejected by default). */
  allowNonFinite?: boolean;
}

/** What loadWeights() did. */
export interface WeightsReport {
  /** Params and state the file filled. */
  readonly loaded: string[];
  /** Params and state the file does not name: they keep the values they had. */
  readonly missing: string[];
  /** Training state in the file that this bundle does not have (opt/*, acc/*, prune/*, qat/*), not loaded. */
  readonly skipped: string[];
}`;
