// A ResNet-style convolutional net whose depth is a config value: a stem convolution, then
// `depth` residual blocks (conv-BN-ReLU-conv-BN plus the identity), global average pooling and a
// linear classifier. Used to measure how activation memory grows with depth.
import { input, param, conv2d, batchNorm, relu, add, mean, matmul, softmaxCrossEntropy, type Tensor } from "mlc";

export const config = { batch: 8, size: 16, channels: 16, depth: 8, classes: 10 };

function conv(name: string, x: Tensor, channels: number): Tensor {
  const w = param(`${name}.w`, [3, 3, x.shape[3], channels], { init: "he_normal" });
  return conv2d(x, w, { padding: "same" });
}

function bn(name: string, x: Tensor): Tensor {
  const c = x.shape[3];
  const gamma = param(`${name}.gamma`, [c], { init: "ones" });
  const beta = param(`${name}.beta`, [c], { init: "zeros" });
  const runningMean = param(`${name}.running_mean`, [c], { init: "zeros", trainable: false });
  const runningVar = param(`${name}.running_var`, [c], { init: "ones", trainable: false });
  return batchNorm(x, gamma, beta, runningMean, runningVar, { momentum: 0.1 });
}

function residualBlock(name: string, x: Tensor): Tensor {
  const c = x.shape[3];
  const h = relu(bn(`${name}.bn1`, conv(`${name}.conv1`, x, c)));
  return relu(add(x, bn(`${name}.bn2`, conv(`${name}.conv2`, h, c))));
}

export default function resnet() {
  const { batch: B, size: S, channels: C } = config;
  const images = input("images", [B, S, S, 3]);
  const labels = input("labels", [B], "i32");
  let h = relu(bn("stem.bn", conv("stem.conv", images, C)));
  for (let i = 0; i < config.depth; i++) h = residualBlock(`block${i}`, h);
  const pooled = mean(h, [1, 2]); // [B, C]
  const w = param("fc.w", [C, config.classes]);
  const b = param("fc.b", [config.classes], { init: "zeros" });
  const logits = add(matmul(pooled, w), b);
  return { logits, loss: softmaxCrossEntropy(logits, labels) };
}

export const train = { loss: "loss", optimizer: { kind: "sgd", lr: 0.05, momentum: 0.9 } };
