"""curate: build, review and learn from fashion image datasets.

The core (taxonomy, dataset tables, title categoriser, curation maths) needs only numpy,
pandas and pyarrow; FiftyOne, TensorFlow/Keras and albumentations are imported inside the
edge modules that use them.
"""

__version__ = "0.1.0"
