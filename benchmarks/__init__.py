"""Speed benchmarks of the kit; run ``python -m benchmarks`` (see ``benchmarks/run.py``)."""
