"""The fault suite: one test per rule of the safety contract (README, "Safety").

Every test here generates its own hostile input (a PostScript file named .png, a FIFO, an
HDF5 file whose images live in /etc/passwd, a run killed half-way...) and asserts the one
line and the exit code imgprep gives, and that nothing was written, read or left running
that should not be. The rules themselves live in the library (``imgprep.plan`` for a run's
inputs and outputs, the readers for what a file may point at), not in these tests.
"""
