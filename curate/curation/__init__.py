"""Curation: what turns imported tables into a training set.

    background.py        the plain background of a studio photo: a smooth model fitted on the border
    flatlay.py           is this a packshot on a plain background, with no person? and why
    person.py            evidence of a person on a plain background: a verified face
    autobox.py           Canny box proposals for flat-lays (reflections and shadows left out), and QA
    likeness.py          whether two photos are the same picture: aligned colour residual
    hamming.py           all hash pairs within a radius: brute force or multi-index hashing
    augment.py           augmentation policies (the only module that imports albumentations)
    balance.py           upsampling and undersampling plans for the training split
    dedup.py             exact and near duplicates (star groups, capped), leakage across splits
    split.py             seeded, stratified, product-grouped splits
    imbalance.py         imbalance measures (IR, MeanIR, CVIR, SCUMBLE) and label matrices
    imbalance_report.py  imbalance reports: JSON, Markdown, PNG charts
    operations.py        the dataset-level operations the commands and the build share
    build.py             `curate build RECIPE.yaml`: every operation from one recipe
"""
