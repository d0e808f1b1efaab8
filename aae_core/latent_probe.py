"""How much of the digit a model's codes keep: labels read from E(x) by a 1-nearest-neighbour rule and by a
linear SVM, fitted on the training images' codes and scored on the test images' (the MNIST protocol of the
ALAE paper, Pidhorskyi et al. 2020, Table 4; it works for every family's encoder).

    python -m aae_core.evaluate checkpoints/alae_mnist --add-latent-probe
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from .metrics import encode_all


def nearest_neighbour_accuracy(train_z: torch.Tensor, train_y: torch.Tensor, test_z: torch.Tensor,
                               test_y: torch.Tensor, chunk: int = 1000) -> float:
    """Share of test codes whose nearest training code (Euclidean) carries the same label."""
    train_z, test_z = train_z.float(), test_z.float()
    train_sq = (train_z ** 2).sum(1)
    hits = 0
    for start in range(0, test_z.shape[0], chunk):
        q = test_z[start:start + chunk]
        # |q - t|^2 = |q|^2 - 2 q.t + |t|^2; |q|^2 is the same for every t, so it does not change the argmin
        nearest = (train_sq[None, :] - 2.0 * q @ train_z.T).argmin(1)
        hits += int((train_y[nearest] == test_y[start:start + chunk]).sum())
    return hits / test_z.shape[0]


def linear_svm_accuracy(train_z: torch.Tensor, train_y: torch.Tensor, test_z: torch.Tensor,
                        test_y: torch.Tensor, *, c: float = 1.0, seed: int = 0) -> float:
    """Test accuracy of a one-vs-rest linear SVM (scikit-learn's LinearSVC, primal, on standardised codes)."""
    scaler = StandardScaler().fit(train_z.double().numpy())
    svm = LinearSVC(C=c, dual=False, random_state=seed, max_iter=5000)
    svm.fit(scaler.transform(train_z.double().numpy()), train_y.numpy())
    predicted = svm.predict(scaler.transform(test_z.double().numpy()))
    return float(np.mean(predicted == test_y.numpy()))


@torch.no_grad()
def latent_probe(model, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                 test_y: torch.Tensor) -> dict[str, Any]:
    """1-NN and linear-SVM accuracy of the labels from the model's codes: fitted on (train_x, train_y), scored on
    (test_x, test_y); images in [0, 1]."""
    train_z, test_z = encode_all(model, train_x).cpu(), encode_all(model, test_x).cpu()
    train_y, test_y = train_y.cpu().long(), test_y.cpu().long()
    return {"knn1_accuracy": nearest_neighbour_accuracy(train_z, train_y, test_z, test_y),
            "linear_svm_accuracy": linear_svm_accuracy(train_z, train_y, test_z, test_y),
            "n_train": int(train_z.shape[0]), "n_test": int(test_z.shape[0])}
