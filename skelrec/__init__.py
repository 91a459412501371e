"""skelrec: action recognition from video with self-supervised skeleton models."""

__version__ = "0.1.0"
