"""The luring defense: a component P in front of a frozen target M (Bernhard et al., 2021).

The augmented model T = M∘P (Sec. 2.3) answers M's logits on P(x). P is trained with the
luring loss (Sec. 2.4, Eq. 2, Algorithm 1) from M's predictions alone (no labels), or with one
of the paper's comparison objectives (Sec. 3.1): Stack, Auto, C.E. `LURING_COMPONENTS` holds
the P architectures of Appendix B (Tables 5-7); `PAPER_SCHEDULES` their training schedules
(Appendix B) and luring coefficients (Appendix C).

Modules: `components` (P, Appendix B), `augmented` (T = M∘P and its agreement with M),
`loss` (Eq. 2 and the comparison objectives), `schedules` (Appendix B, C) and `training`
(Algorithm 1). The numbered items below are the readings they cite.

Where the paper is silent or ambiguous, this module chooses as follows.

1. Class b of Eq. 2. The paper: "a and b correspond to the second maximum value of h^M and
   h^{M∘P}" (Alg. 1, line 6: "class of the 2nd max value of h^{M∘P}(x_i)"). Read literally,
   when M∘P's top class c differs from M(x) and M(x) is M∘P's runner-up, b = M(x) and the
   hinge max(0, h_b − h_{M(x)}) is 0 although M∘P misclassifies, which contradicts the stated
   purpose of the term (it "ensures that h_{M(x)}^{M∘P} is the highest logit value"). By
   default (recipe / config key `b_class: best_other`) we take b = argmax_{j ≠ M(x)} h_j^{M∘P},
   the best class other than M(x). It is the literal second maximum whenever M∘P agrees with
   M (the hinge is then 0), and the hinge is active exactly when M∘P's top class is not M(x).
   `b_class: second_max` is the literal reading, for a sensitivity sweep (issue 17); the
   default keeps the term's stated purpose and the existing configs' and checkpoints'
   numbers. a = argmax_{j ≠ M(x)} h_j^M is unambiguous, since
   M(x) = argmax h^M (ties: the lowest class index, torch.argmax's rule). a and b are chosen
   without gradient; the loss is the batch mean (Alg. 1, line 9).
2. Table 5 (MNIST P) has two MAXPOOL(2,2) but three UPSAMPLING(2,2) rows: read literally, a
   28×28 input comes out 56×56, which M cannot take. The table is the convolutional
   autoencoder of the Keras tutorial ("Building Autoencoders in Keras", Chollet 2016) layer for
   layer, except for the pooling after the third convolution; we insert that MAXPOOL. As in
   that model, pooling is 'same' (ceil mode: 7 → 4) and CONV(16) before the last upsampling
   is unpadded where that is what brings the image back to its size (28: 16 → 14 → 28;
   padding 1 for sizes where 'same' fits). The table gives CONV(16) no activation; we keep it
   linear, as printed (the tutorial has a ReLU there).
3. Padding of the other 3×3 convolutions is not stated: 'same' (padding 1), as the shapes
   require. Pooling uses ceil mode everywhere (no effect on 32×32 inputs). Upsampling is
   nearest-neighbour (Keras UpSampling2D's default).
4. The last CONV has 1 (MNIST) or 3 filters: we give it `in_channels` filters, so P maps
   images to images of the same shape.
5. "CONV + BN + RELU" is conv → batch norm → activation. Convolutions keep their bias (Keras'
   default); batch norm and all initializations are PyTorch's defaults, as for the base
   classifiers of `decoybench.models.architectures` (Keras: Glorot-uniform init, BN
   momentum 0.99 / eps 1e-3).
6. Range: every table ends with SIGMOID, which is range-limiting; P's output lies in [0, 1]
   (float32 saturation gives exactly 0 or 1 at worst), no clipping is added.
7. "Dropout is used" (SVHN Luring; CIFAR10 C_E and Luring) without rate or placement: when
   `dropout > 0`, an element-wise dropout follows every hidden ReLU; `PAPER_SCHEDULES` records
   the rate `PAPER_DROPOUT` = 0.25 (our choice) for build_component(..., dropout=...).
   Dropout masks, and Stack's re-initialization, are drawn from the global RNG inside a scope
   seeded from `generator`, so training is deterministic given the generator and leaves the
   global RNG as it was.
8. Stack ("M∘P is retrained as a whole with the cross-entropy loss", on the true labels):
   a copy of M is trained with P; by default the copy starts from M's trained weights, and
   `reinitialize=True` resets it first (the paper's "retrained" and its CIFAR10 Stack
   schedule, equal to the base classifier's, suggest training from scratch). M itself is
   untouched; the returned model holds the copy.
9. Auto ("an auto-encoder trained separately with binary cross-entropy"): BCE between P(x)
   and x; M plays no part in its training.
10. C.E ("cross-entropy loss between the confidence score vectors M∘P(x) and M(x) in order
    to mimic the decision of M"): cross-entropy of M∘P's logits against M's predicted labels
    (hard targets). The wording also admits soft targets (softmax of M) — not implemented.
11. Schedules (Appendix B) are encoded as printed, in epochs (Alg. 1's K steps = epochs ×
    ⌈N/B⌉; each epoch a seeded shuffle, last partial batch kept, as in
    `decoybench.models.training`). The piecewise learning rates are explicit values, not a
    constant decay factor; MNIST's C_E/Luring "0.001, decreasing to 0.0002 and 0.0004" is
    kept although its last step *increases* the rate (0.00004 may be meant). The paper trains
    no Auto component on CIFAR10 (Sec. 4.3, Appendix C): `PAPER_SCHEDULES` has none.
12. Agreement. Sec. 2.3's prediction neutrality is M∘P(x) = M(x): `agreement` is the share of
    inputs where both models predict the same label. Table 8's AGREE is defined as "augmented
    and target model agree on the ground-truth label" (AGREE ≤ TEST in every cell): with
    `labels`, `agreement` counts the inputs where both predict the true label.
"""
