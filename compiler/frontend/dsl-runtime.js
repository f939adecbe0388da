// What `import ... from "mlc"` gives at run time. Models are read statically by the compiler and
// never executed, so every DSL function throws with a pointer to the right command. The names
// mirror compiler/frontend/dsl.ts (a test checks that the two lists agree).

function compiledOnly(name) {
  const fn = () => {
    throw new Error(`mlc models are compiled, not executed: run \`mlc ir model.ts\` (called ${name})`);
  };
  Object.defineProperty(fn, "name", { value: name });
  return fn;
}

export const input = compiledOnly("input");
export const param = compiledOnly("param");

export const full = compiledOnly("full");
export const zeros = compiledOnly("zeros");
export const ones = compiledOnly("ones");
export const iota = compiledOnly("iota");

export const neg = compiledOnly("neg");
export const exp = compiledOnly("exp");
export const log = compiledOnly("log");
export const sqrt = compiledOnly("sqrt");
export const rsqrt = compiledOnly("rsqrt");
export const abs = compiledOnly("abs");
export const tanh = compiledOnly("tanh");
export const sigmoid = compiledOnly("sigmoid");
export const relu = compiledOnly("relu");
export const gelu = compiledOnly("gelu");

export const add = compiledOnly("add");
export const sub = compiledOnly("sub");
export const mul = compiledOnly("mul");
export const div = compiledOnly("div");
export const pow = compiledOnly("pow");
export const maximum = compiledOnly("maximum");
export const minimum = compiledOnly("minimum");
export const less = compiledOnly("less");
export const greater = compiledOnly("greater");
export const equal = compiledOnly("equal");
export const where = compiledOnly("where");
export const cast = compiledOnly("cast");
export const dropout = compiledOnly("dropout");

export const matmul = compiledOnly("matmul");
export const conv2d = compiledOnly("conv2d");
export const maxPool2d = compiledOnly("maxPool2d");
export const avgPool2d = compiledOnly("avgPool2d");

export const quantize = compiledOnly("quantize");
export const dequantize = compiledOnly("dequantize");
export const requantize = compiledOnly("requantize");
export const fakeQuant = compiledOnly("fakeQuant");
export const matmulInteger = compiledOnly("matmulInteger");

export const sum = compiledOnly("sum");
export const mean = compiledOnly("mean");
export const max = compiledOnly("max");
export const softmax = compiledOnly("softmax");
export const logSoftmax = compiledOnly("logSoftmax");
export const layerNorm = compiledOnly("layerNorm");
export const batchNorm = compiledOnly("batchNorm");
export const softmaxCrossEntropy = compiledOnly("softmaxCrossEntropy");
export const mse = compiledOnly("mse");

export const reshape = compiledOnly("reshape");
export const transpose = compiledOnly("transpose");
export const slice = compiledOnly("slice");
export const concat = compiledOnly("concat");
export const broadcastTo = compiledOnly("broadcastTo");
export const gather = compiledOnly("gather");
export const oneHot = compiledOnly("oneHot");
