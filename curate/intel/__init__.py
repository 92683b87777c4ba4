"""Catalogue intelligence: what a trained category model tells about a catalogue.

    embeddings.py   embeddings stored beside the tables, computed incrementally
    search.py       nearest-neighbour search (exact, or faiss HNSW for millions of rows)
    label_noise.py  likely-mislabelled ranking (confident learning) and box disagreements
    photography.py  photography QA per category against the catalogue norm
    workflows.py    the commands as functions: embed, search, rank mislabelled, flag box issues

The FiftyOne side (similarity indexes, the "likely mislabelled" view) is in curate.review.insights.
"""
