"""Output formats: one module per format, a writer and (where it can be read back) a reader.

``base`` (the writer protocol and the atomic finish), ``registry`` (formats by name and
suffix), ``hdf5`` / ``hdf5_layout`` / ``hdf5_space`` (the HDF5 writer), ``hdf5_reader`` /
``hdf5_storage`` (the rules an HDF5 file must pass before imgprep reads it), ``png`` (the
PNG-tree writer). Nothing is imported here, so that reading one module loads only it.
"""
