"""Figures: one plotting function per figure, saved as PNG and PDF atomically."""
