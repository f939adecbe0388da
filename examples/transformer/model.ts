// A pre-norm causal transformer block (GPT style) over token ids: embeddings, multi-head causal
// self-attention and a GELU MLP, each with a residual connection, then a next-token loss.
import {
  input, param, gather, matmul, add, mul, layerNorm, softmax, gelu, reshape, transpose, where,
  iota, greater, dropout, softmaxCrossEntropy, type Tensor,
} from "mlc";

export const config = { batch: 4, seq: 16, vocab: 64, dim: 32, heads: 4, layers: 1, dropout: 0.1 };

function linear(name: string, x: Tensor, out: number, bias = true): Tensor {
  const w = param(`${name}.w`, [x.shape[x.shape.length - 1], out], { init: "normal(0.02)" });
  const y = matmul(x, w);
  return bias ? add(y, param(`${name}.b`, [out], { init: "zeros" })) : y;
}

function norm(name: string, x: Tensor): Tensor {
  const d = x.shape[x.shape.length - 1];
  return layerNorm(x, param(`${name}.gamma`, [d], { init: "ones" }), param(`${name}.beta`, [d], { init: "zeros" }));
}

function attention(name: string, x: Tensor): Tensor {
  const { batch: B, seq: T, dim: D, heads: NH } = config;
  const hd = D / NH;
  // [B, T, D] -> [B, NH, T, hd]
  const heads = (t: Tensor) => transpose(reshape(t, [B, T, NH, hd]), [0, 2, 1, 3]);
  // No biases on q/k/v (as in LLaMA): a key bias shifts every score of a query equally, which
  // softmax ignores, so it would be a parameter with an identically zero gradient.
  const q = heads(linear(`${name}.q`, x, D, false));
  const k = heads(linear(`${name}.k`, x, D, false));
  const v = heads(linear(`${name}.v`, x, D, false));
  const scores = mul(matmul(q, k, { transposeB: true }), 1 / Math.sqrt(hd)); // [B, NH, T, T]
  const future = greater(iota([T, T], 1), iota([T, T], 0));                  // key after query
  const probs = softmax(where(future, -1e9, scores));
  const mixed = reshape(transpose(matmul(probs, v), [0, 2, 1, 3]), [B, T, D]);
  return linear(`${name}.proj`, mixed, D);
}

function block(name: string, x: Tensor): Tensor {
  let h = add(x, attention(`${name}.attn`, norm(`${name}.ln1`, x)));
  let m = linear(`${name}.fc2`, gelu(linear(`${name}.fc1`, norm(`${name}.ln2`, h), 4 * config.dim)), config.dim);
  if (config.dropout > 0) m = dropout(m, config.dropout);
  return add(h, m);
}

export default function transformer() {
  const { batch: B, seq: T, vocab: V, dim: D } = config;
  const tokens = input("tokens", [B, T], "i32");
  const targets = input("targets", [B, T], "i32");
  const embed = param("embed", [V, D], { init: "normal(0.02)" });
  const pos = param("pos", [T, D], { init: "normal(0.01)" });
  let h = add(gather(embed, tokens), pos);
  for (let l = 0; l < config.layers; l++) h = block(`block${l}`, h);
  const logits = linear("head", norm("ln_f", h), V);
  return { logits, loss: softmaxCrossEntropy(logits, targets) };
}

export const train = { loss: "loss", optimizer: { kind: "adamw", lr: 1e-3, weightDecay: 0.01 } };
