"""The FiftyOne connection: the one place FiftyOne is imported for the review loop.

Usage tracking is turned off, and an unreachable `FIFTYONE_DATABASE_URI` fails in one line
before the (slow) FiftyOne import would wait 30 s to time out.
"""

from __future__ import annotations

import os

from curate.errors import CurateError

# info key of a companion dataset of per-object samples: the review dataset it belongs to
OBJECTS_OF = "curate_objects_of"


def import_fiftyone():
    """Import FiftyOne with usage tracking off, failing fast on an unreachable database."""
    os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
    # checked before the (slow) FiftyOne import, which would otherwise wait 30 s to time out
    check_database_uri(os.environ.get("FIFTYONE_DATABASE_URI"))
    import fiftyone as fo

    if fo.config.database_uri and not os.environ.get("FIFTYONE_DATABASE_URI"):
        check_database_uri(fo.config.database_uri)
    return fo


def check_database_uri(uri: str | None) -> None:
    if not uri:
        return
    import pymongo
    from pymongo.errors import PyMongoError

    try:
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=3000)
        client.admin.command("ping")
        client.close()
    except PyMongoError as exc:
        raise CurateError(
            f"cannot reach the FiftyOne database at FIFTYONE_DATABASE_URI={uri}: {type(exc).__name__}. "
            "Start that MongoDB server, or unset FIFTYONE_DATABASE_URI to use the bundled mongod."
        ) from None


def load_review_dataset(fo, name: str):
    """The persistent FiftyOne dataset `curate review` created under this name."""
    if not fo.dataset_exists(name):
        raise CurateError(f"no FiftyOne dataset named '{name}': run `curate review DATASET` first")
    ds = fo.load_dataset(name)
    owner = ds.info.get(OBJECTS_OF)
    if owner:
        raise CurateError(f"FiftyOne dataset '{name}' holds the per-object evaluation samples of '{owner}', not a review dataset: review and sync '{owner}'")
    return ds
