"""Recurrent spiking neural network decoders of finger velocity (Liu et al., BioCAS 2024)."""

__version__ = "0.1.0"
