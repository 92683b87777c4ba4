"""Curation: what turns imported tables into a training set.

    flatlay.py           is this a packshot on a plain background?
    autobox.py           Canny box proposals for flat-lays, and their QA against manual boxes
    augment.py           augmentation policies (the only module that imports albumentations)
    balance.py           upsampling and undersampling plans for the training split
    dedup.py             exact and near duplicates, leakage across splits
    split.py             seeded, stratified, product-grouped splits
    imbalance.py         imbalance measures (IR, MeanIR, CVIR, SCUMBLE) and label matrices
    imbalance_report.py  imbalance reports: JSON, Markdown, PNG charts
    operations.py        the dataset-level operations the commands and the build share
    build.py             `curate build RECIPE.yaml`: every operation from one recipe
"""
