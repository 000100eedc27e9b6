"""Data stage: Zenodo download, .mat reading and writing, synthetic sessions, preprocessing, windows."""
