"""The augmentation operations: one module per family, each listing its ``OPERATIONS``.

``imgprep.augment.registry`` imports every module here; a new operation is a new module
(and its test file), nothing else.
"""
