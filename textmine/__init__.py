"""textmine: topic models and topic trajectories of Korean evaluation opinions."""

__version__ = "0.1.0"


def open_run(path):
    """A finished run folder in a notebook: its tables as DataFrames, models, plotly figures
    (:class:`textmine.notebook.Run`)."""
    from textmine.notebook import open_run as _open_run

    return _open_run(path)


def run(corpus=None, **settings):
    """Run the flow on ``corpus`` and return the run as :func:`open_run` does (:func:`textmine.notebook.run`:
    the one entry point of the library that loads Prefect, when it is called)."""
    from textmine.notebook import run as _run

    return _run(corpus, **settings)
