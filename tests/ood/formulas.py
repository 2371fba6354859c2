"""The detectors' scores as their papers (or official code) write them, in float64 numpy, for the
tests to compare samderm.ood with. Every score is 'higher = more likely OOD': a paper's confidence
is negated. Nothing here calls samderm."""

from __future__ import annotations

import numpy as np


def log_sum_exp(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=1)
    return top + np.log(np.exp(logits - top[:, None]).sum(axis=1))


def softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(logits - log_sum_exp(logits)[:, None])


def msp(logits: np.ndarray) -> np.ndarray:
    """Hendrycks & Gimpel 2017: confidence max_c softmax_c."""
    return -softmax(logits).max(axis=1)


def energy(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Liu et al. 2020, eq. 1: E(x; T) = -T log sum_c exp(f_c(x) / T) (low for in-distribution)."""
    return -temperature * log_sum_exp(logits / temperature)


def max_logit(logits: np.ndarray) -> np.ndarray:
    """Hendrycks et al. 2022: confidence max_c f_c(x)."""
    return -logits.max(axis=1)


def gen(logits: np.ndarray, gamma: float, top_m: int) -> np.ndarray:
    """Liu et al. 2023, eq. 5 and their code: G = sum over the M largest p_j of p_j^gamma (1 - p_j)^gamma
    (their confidence is -G)."""
    p = np.sort(softmax(logits), axis=1)[:, ::-1][:, :top_m]
    return (p**gamma * (1 - p) ** gamma).sum(axis=1)


def odin_linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, temperature: float, epsilon: float) -> np.ndarray:
    """Liang et al. 2018, eq. 2 on a linear head f(x) = W x + b: x~ = x - eps sign(-grad_x log S_yhat(x; T)),
    with grad_x log S_yhat = (W_yhat - sum_j S_j W_j) / T in closed form; confidence max_c S_c(x~; T)."""
    p = softmax((x @ weight.T + bias) / temperature)
    predicted = p.argmax(axis=1)
    gradient = (weight[predicted] - p @ weight) / temperature
    perturbed = x - epsilon * np.sign(-gradient)
    return -softmax((perturbed @ weight.T + bias) / temperature).max(axis=1)


def knn(train: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    """Sun et al. 2022: z = f / ||f||, score ||z - z_(k)|| (the paper's confidence is its negative)."""
    z_train = train / np.linalg.norm(train, axis=1, keepdims=True)
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    distances = np.sqrt(((z[:, None, :] - z_train[None, :, :]) ** 2).sum(axis=2))
    return np.sort(distances, axis=1)[:, k - 1]


def vim(h_train: np.ndarray, h: np.ndarray, weight: np.ndarray, bias: np.ndarray, principal_dim: int) -> np.ndarray:
    """Wang et al. 2022, eq. 3-6 and their code: origin u = -pinv(W) b; principal subspace of the
    centred training features; virtual logit alpha ||x^{P-perp}||, alpha = mean max logit / mean residual
    norm on the training features; score = virtual logit - log sum exp(logits)."""
    u = -np.linalg.pinv(weight) @ bias
    centred = h_train - u
    eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred / len(centred))
    residual_space = eigenvectors[:, np.argsort(eigenvalues)[::-1][principal_dim:]]
    alpha = (h_train @ weight.T + bias).max(axis=1).mean() / np.linalg.norm(centred @ residual_space, axis=1).mean()
    return alpha * np.linalg.norm((h - u) @ residual_space, axis=1) - log_sum_exp(h @ weight.T + bias)


def _squared_distances(x: np.ndarray, centre: np.ndarray, precision: np.ndarray) -> np.ndarray:
    return np.einsum("nd,de,ne->n", x - centre, precision, x - centre)


def class_distances(train: np.ndarray, labels: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Lee et al. 2018, eq. 1-2 and their lib_generation.py: class means, one covariance of the class-centred
    features (1/N), its pseudo-inverse; N x C squared Mahalanobis distances."""
    classes = np.unique(labels)
    means = np.stack([train[labels == c].mean(axis=0) for c in classes])
    centred = train - means[np.searchsorted(classes, labels)]
    precision = np.linalg.pinv(centred.T @ centred / len(train))
    return np.stack([_squared_distances(x, mean, precision) for mean in means], axis=1)


def mahalanobis(train: np.ndarray, labels: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The squared distance to the nearest class mean (Lee et al.'s confidence is its negative)."""
    return class_distances(train, labels, x).min(axis=1)


def relative_mahalanobis(train: np.ndarray, labels: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Ren et al. 2021, eq. 2-3: min_c MD_c(x) - MD_0(x), MD_0 under the mean and (1/N) covariance of all
    the training features, as OpenOOD's rmds."""
    centred = train - train.mean(axis=0)
    background = _squared_distances(x, train.mean(axis=0), np.linalg.pinv(centred.T @ centred / len(train)))
    return (class_distances(train, labels, x) - background[:, None]).min(axis=1)
