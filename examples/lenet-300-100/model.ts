// LeNet-300-100 (LeCun et al. 1998), the fully connected net of Han et al.'s pruning papers:
// 784-300-100-10 with ReLU, for MNIST digits flattened to 784 pixels. Trained dense, then pruned
// while fine-tuning with `--prune` (docs/COMPRESSION.md "Pruning while training"); its train
// export prunes nothing by default.
import { input, param, matmul, add, relu, softmaxCrossEntropy, type Tensor } from "mlc";

export const config = { batch: 64 };

function dense(name: string, x: Tensor, units: number): Tensor {
  const w = param(`${name}.w`, [x.shape[1], units], { init: "he_normal" });
  const b = param(`${name}.b`, [units], { init: "zeros" });
  return add(matmul(x, w), b);
}

export default function lenet300100() {
  const x = input("x", [config.batch, 784]);
  const y = input("y", [config.batch], "i32");
  const h1 = relu(dense("fc1", x, 300));
  const h2 = relu(dense("fc2", h1, 100));
  const logits = dense("out", h2, 10);
  return { logits, loss: softmaxCrossEntropy(logits, y) };
}

export const train = { loss: "loss", optimizer: { kind: "adam", lr: 1e-3 } };
