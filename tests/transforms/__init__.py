"""Tests of imgprep.transforms: steps and the arrays-only pipeline."""
