"""The three model stages (detector, category classifier, attribute tagger), their evaluation
and the merged predictor, on Keras 3 with any backend.

Keras, KerasHub and TensorFlow are imported inside functions only, so importing this package
stays light; `KERAS_BACKEND` (tensorflow by default, jax recommended on GPUs) picks the backend.
"""
