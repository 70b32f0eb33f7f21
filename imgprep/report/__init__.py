"""``inspect --html``: one self-contained HTML page of what ``inspect`` found.

``svg`` draws the charts (inline SVG, no script), ``thumbs`` makes the small inline PNG
images (a few samples per class, the two sides of each listed duplicate), ``page`` lays out
the sections. Nothing is fetched when the page is opened: no network, no script, no font
files; it follows the reader's light or dark theme and fits a phone's width.
"""
