"""Collaborative multi-task training (Wang et al., 2019): Classmap, auxiliary head, gradient lock.

The defended model grows an auxiliary logits layer Z′ from the oracle's last hidden layer
(Sec. III-C1) and a gradient lock unit g between the two heads (Sec. III-C3):
Z* = Z ⊙ g(Z′). Benign inputs of class i should answer (argmax Z*, argmax Z′) =
(i, Classmap[i]); any other pair flags the input as adversarial. The Classmap pairs each
class with a "robust" label from the oracle's predictions on FGSM examples (Eq. 6-8), and
the model is trained with J_obj (Eq. 9) and J′ (Eq. 10) on benign and FGSM inputs.

Modules: `classmap` (Eq. 6, 8), `model` (Z′, the gradient lock g, detection) and
`training` (J_obj of Eq. 9, J′ of Eq. 10, FGSM, the training loop). Where the paper is
ambiguous or contradicts itself, they choose as follows ("item n" in their docstrings).

1. The paired label (Eq. 8). The formula picks the class the oracle most often assigns to
   FGSM examples of y_true (argmax of the likelihood), which is also what Fig. 7 describes
   (the regularisation moves the boundary between y_true and its *nearest* class); Sec. V-B
   instead calls y_robust the class an attacker is *unlikely* to reach. We follow the formula
   (`pairing="most_likely"`); `pairing="least_likely"` takes the argmin instead. y_true itself
   is excluded (a pair (i, i) could never flag a misclassification), counts are over the
   hard predictions (Eq. 8 is a likelihood of F(x_a) = y_robust), ties are broken by the
   confidence vector p_i of Eq. 6, then by the lower class index; a class without any
   misclassified example falls back to p_i alone.
2. p_i (Eq. 6) is the mean softmax of the oracle over the FGSM examples of class i, kept in
   the Classmap for Fig. 6 and the table artifact; the sum in Eq. 6 runs over the N_i
   examples (its printed bounds 0..N_i would count N_i + 1).
3. The negative term of Eq. 10. "J(x_adv, y_robust) is a negative cross-entropy cost": read
   literally, J′ = ½[CE(Z′(x), y_r) − CE(Z′(x_adv), y_r)], which is unbounded below (the
   model can drive CE(Z′(x_adv), y_r) to infinity), so the sum of Eq. 9 has no minimum.
   We cap the per-sample cross-entropy of the negative term at `negative_cap` nats (default
   log(K)·2 ≈ 4.6 for K = 10, i.e. p_{y_r} ≈ 1%): beyond it the term stops pushing, which
   is exactly its stated purpose (Z′ leaves y_robust on adversarial inputs).
4. The gradient lock. The paper says g "contains two fully connected layers" and is trained
   "in the same training process", and also that the added layers "contain no parameter to
   be trained". Two fully connected layers have parameters; we train them jointly with the
   rest (there is no other way for g to "align with the non-linear relationship between Z and
   Z′"), with a ReLU between them and `lock_hidden` units (the paper gives no width). The
   last layer starts at weight 0 and bias 1, so that g ≡ 1 and Z* = Z when training starts
   from the oracle's weights. The paper's claim for g is the near-white-box one (Table V):
   the gradient of Z* flows through both Z and Z′ (Eq. 13), which is tested.
5. Which output the J terms use: J(x, y_true) and J(x_adv, y_true) train the classification
   output, Z* (Z when the model has no gradient lock, the Sec. III-C1 framework); J′ trains Z′.
   The training FGSM examples are crafted on that classification output at each step with
   the model in eval mode (no dropout), then the step runs in train mode. The paper gives no
   ε for them; the config's `training_epsilon` (default 0.1, its black-box FGSM budget).
6. Initialisation: the defended model starts from the oracle's trained weights
   (`initialize="oracle"`, the paper "grows" the heads from the trained model), or from
   scratch (`"scratch"`); Z′ is always freshly initialised.
"""
