"""The runs folder: the list of runs, one run's summary, and runs compared."""
