"""Model reports (model cards) and registry pages: numbers, plots, assembly and rendering.

``quant`` and ``plots`` are pure (arrays in, numbers or SVG out); ``evidence`` and ``card``
read the database; ``render`` turns a card into one self-contained HTML file.
"""
