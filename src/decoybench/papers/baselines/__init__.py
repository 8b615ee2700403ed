"""The baseline detectors LID (`lid`), Feature Squeezing (`squeeze`), MagNet (`magnet`) and
Trapdoor (`trapdoor`) on the shared detector interface (`detector`), built (`build`), saved
(`checkpoint`) and compared with the deception defenses (`tables`, `figures`)."""
