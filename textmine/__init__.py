"""textmine: topic models and topic trajectories of Korean evaluation opinions."""

__version__ = "0.1.0"
