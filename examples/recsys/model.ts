// Matrix factorisation for rating prediction: a user and an item embedding, their dot product,
// per-user and per-item biases and a global offset, trained with mean squared error.
import { input, param, gather, mul, add, sum, reshape, mse } from "mlc";

export const config = { batch: 128, users: 1000, items: 500, factors: 16 };

export default function recsys() {
  const { batch: B, users, items, factors: K } = config;
  const user = input("user", [B], "i32");
  const item = input("item", [B], "i32");
  const rating = input("rating", [B]);
  const U = param("user.embed", [users, K], { init: "normal(0.1)" });
  const V = param("item.embed", [items, K], { init: "normal(0.1)" });
  const userBias = param("user.bias", [users, 1], { init: "zeros" });
  const itemBias = param("item.bias", [items, 1], { init: "zeros" });
  const offset = param("offset", [1], { init: "zeros" });
  const dot = sum(mul(gather(U, user), gather(V, item)), 1);                     // [B]
  const bias = reshape(add(gather(userBias, user), gather(itemBias, item)), [B]);  // [B]
  const prediction = add(add(dot, bias), offset);
  return { prediction, loss: mse(prediction, rating) };
}

export const train = { loss: "loss", optimizer: { kind: "sgd", lr: 0.1 } };
