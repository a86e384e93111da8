"""Micro-analysis: frame indexes, frame-accurate clips, stills, thumbnails, and their records."""
