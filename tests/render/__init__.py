"""Tests of the renderers and the conversion pipeline."""
