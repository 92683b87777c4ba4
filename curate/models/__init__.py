"""The three model stages (detector, category classifier, attribute tagger), their evaluation
and the merged predictor, on Keras 3 with any backend.

    recipe.py       the recipe sections the stages share
    runtime.py      the Keras runtime: lazy import, precision, weights, bucketed prediction
    model_dir.py    model directories: save, load, model.json and the model card
    backbones.py    image backbones (keras.applications and compact networks)
    data.py         input pipelines from the tables: crops, detection arrays, batches
    training.py     the training loop the stages share
    detector.py     stage 1: RetinaNet over the four object types
    classifier.py   stage 2: the category classifier (and a trained one as an embedder)
    tagger.py       stage 3: the taxonomy-constrained attribute tagger
    stages.py       the stages by name: recipe, trainer, what follows training
    metrics.py      pure evaluation metrics
    evaluate.py     each stage's evaluation and its reports (imports the stages)
    postprocess.py  the detection post-processing rules
    predictor.py    the merged predictor: detect -> post-process -> category -> attributes

Imports go one way: stages use metrics, never evaluate. Keras, KerasHub and TensorFlow are
imported inside functions only, so importing this package stays light; `KERAS_BACKEND`
(tensorflow by default, jax recommended on GPUs) picks the backend.
"""
