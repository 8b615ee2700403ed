"""The attack-success figure: one bar series per setting and defense."""

from __future__ import annotations

import matplotlib
import pandas as pd

from decoybench.figures import attack_success, save

matplotlib.use("Agg")


def _row(setting: str, defense: str, attack: str, asr: float) -> dict[str, object]:
    return {
        "dataset": "mnist5k", "setting": setting, "defense": defense, "attack": attack,
        "target_asr": asr, "target_asr_ci_low": asr / 2, "target_asr_ci_high": (1 + asr) / 2,
        "target_asr_count": int(asr * 10), "target_asr_total": 10, "source_asr": 1.0,
    }  # fmt: skip


def test_defenses_sharing_a_setting_get_their_own_bars(tmp_path, monkeypatch) -> None:
    """Luring's approaches all sit in one transfer setting: (setting, attack) repeats."""
    table = pd.DataFrame(
        [
            _row("whitebox", "undefended", "fgsm", 0.5),
            _row("transfer_public", "luring", "fgsm", 0.1),
            _row("transfer_public", "luring_ce", "fgsm", 0.3),
        ]
    )
    labels: list[str] = []
    real_save = save.save_figure

    def spy(figure, png, pdf):
        labels.extend(text.get_text() for text in figure.axes[0].get_legend().get_texts())
        real_save(figure, png, pdf)

    monkeypatch.setattr(attack_success, "save_figure", spy)
    attack_success.plot_attack_success(table, tmp_path / "f.png", tmp_path / "f.pdf")
    assert labels == ["whitebox", "transfer_public / luring", "transfer_public / luring_ce"]
    assert (tmp_path / "f.png").read_bytes().startswith(b"\x89PNG")


def test_pdfs_do_not_depend_on_when_they_are_saved(tmp_path, monkeypatch) -> None:
    """matplotlib dates a PDF by SOURCE_DATE_EPOCH, else by the clock: two saves a day apart."""
    import matplotlib.pyplot as plt

    pdfs = []
    for day, epoch in enumerate(("1700000000", "1700086400")):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        figure, axes = plt.subplots()
        axes.plot([0, 1], [1, 0])
        save.save_figure(figure, tmp_path / f"{day}.png", tmp_path / f"{day}.pdf")
        plt.close(figure)
        pdfs.append((tmp_path / f"{day}.pdf").read_bytes())
    assert pdfs[0].startswith(b"%PDF")
    assert pdfs[0] == pdfs[1]
