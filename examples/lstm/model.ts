// A single-layer LSTM unrolled over a fixed number of time steps, classifying each sequence from
// its last hidden state. The gates of one step are one matmul of [x_t, h] against a fused weight.
import { input, param, zeros, matmul, add, mul, sigmoid, tanh, slice, reshape, concat, softmaxCrossEntropy, type Tensor } from "mlc";

export const config = { batch: 16, steps: 8, features: 12, hidden: 32, classes: 4 };

function lstmCell(x: Tensor, state: { h: Tensor; c: Tensor }, w: Tensor, b: Tensor) {
  const H = config.hidden;
  const gates = add(matmul(concat([x, state.h], 1), w), b); // [B, 4H]
  const gate = (k: number) => slice(gates, [0, k * H], [config.batch, H]);
  const [i, f, g, o] = [sigmoid(gate(0)), sigmoid(gate(1)), tanh(gate(2)), sigmoid(gate(3))];
  const c = add(mul(f, state.c), mul(i, g));
  return { h: mul(o, tanh(c)), c };
}

export default function lstm() {
  const { batch: B, steps: T, features: D, hidden: H } = config;
  const xs = input("x", [B, T, D]);
  const labels = input("labels", [B], "i32");
  const w = param("lstm.w", [D + H, 4 * H], { init: "glorot_uniform" });
  const b = param("lstm.b", [4 * H], { init: "zeros" });
  let state = { h: zeros([B, H]), c: zeros([B, H]) };
  for (let t = 0; t < T; t++) {
    const xt = reshape(slice(xs, [0, t, 0], [B, 1, D]), [B, D]);
    state = lstmCell(xt, state, w, b);
  }
  const wOut = param("head.w", [H, config.classes]);
  const bOut = param("head.b", [config.classes], { init: "zeros" });
  const logits = add(matmul(state.h, wOut), bOut);
  return { logits, loss: softmaxCrossEntropy(logits, labels) };
}

export const train = { loss: "loss", optimizer: { kind: "adam", lr: 3e-3 } };
