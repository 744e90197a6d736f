"""A complete hand-written backprop in NumPy, the kind symprop verifies. Copy it and change it.

    symprop verify problem.toml mygrad:backprop          # exit 0: every entry matches the exact gradient
    symprop verify problem.toml mygrad:backprop_buggy    # exit 1: the report names the wrong entries

The network: tanh in every hidden layer, identity output, mean squared error over all N*m entries,
MSE = (1 / (N m)) sum_i sum_k (a_ik - y_ik)^2. Samples are rows: X is (N, n0), Y is (N, m);
weights[l] has shape (n_out, n_in) (z = a W^T + b for a row of samples), biases[l] shape (n_out,).
"""

import numpy as np


def backprop(weights, biases, X, Y):
    """(grad_weights, grad_biases) of the MSE, same shapes as weights and biases."""
    # forward pass: keep every layer's activation
    activations = [X]
    for W, b in zip(weights[:-1], biases[:-1]):
        activations.append(np.tanh(activations[-1] @ W.T + b))
    out = activations[-1] @ weights[-1].T + biases[-1]  # identity output

    # output delta dC/dz^[L] (identity: f'(z) = 1); the mean is over the N*m entries
    N, m = Y.shape
    delta = 2.0 * (out - Y) / (N * m)

    grad_w = [None] * len(weights)
    grad_b = [None] * len(biases)
    for l in range(len(weights) - 1, -1, -1):
        grad_w[l] = delta.T @ activations[l]  # dC/dW^[l] = delta^[l] (a^[l-1])^T, summed over the samples
        grad_b[l] = delta.sum(axis=0)  # dC/db^[l] = delta^[l]
        if l > 0:  # hidden delta: (W^[l+1])^T delta^[l+1] times tanh'(z) = 1 - a^2
            delta = (delta @ weights[l]) * (1.0 - activations[l] ** 2)
    return grad_w, grad_b


def backprop_buggy(weights, biases, X, Y):
    """The same with a classic mistake: summed over the samples where the MSE averages."""
    grad_w, grad_b = backprop(weights, biases, X, Y)
    N, m = Y.shape
    return [g * (N * m) for g in grad_w], [g * (N * m) for g in grad_b]


if __name__ == "__main__":  # python mygrad.py: the same check from Python
    import symprop
    from symprop.problem import load_problem

    problem = load_problem("problem.toml")
    report = symprop.verify(backprop, problem.network, problem.values, problem.X, problem.Y)
    print(report.summary())
