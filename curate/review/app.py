"""The FiftyOne App for a review dataset, opened on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

from curate.errors import CurateError
from curate.review.connection import import_fiftyone, load_review_dataset
from curate.review.object_eval import objects_dataset_name


def launch_app(name: str, view: str | None = None, port: int = 5151, remote: bool = False, wait: bool = True):
    """Open the App on 127.0.0.1 for the named dataset (optionally a saved view) and block.

    A saved view of a category or attribute evaluation opens on the dataset's per-object companion.

    Ctrl-C (or SIGTERM) closes the session, which stops FiftyOne's App server, so no server
    process outlives the command.
    """
    import signal

    fo = import_fiftyone()
    ds = load_review_dataset(fo, name)
    target = saved_view(fo, ds, view) if view else ds
    session = fo.launch_app(target, port=port, address="127.0.0.1", remote=remote, auto=not remote)
    if not wait:
        return session

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    # a shell may start us with SIGINT ignored (background jobs); Ctrl-C must still stop the App
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        session.wait(-1)
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return session


def saved_view(fo, ds, view: str):
    """A saved view of the review dataset, or of its per-object companion (where the views of a
    category or attribute evaluation live)."""
    objects = objects_dataset_name(ds.name)
    holders = [ds] + ([fo.load_dataset(objects)] if fo.dataset_exists(objects) else [])
    for holder in holders:
        if holder.has_saved_view(view):
            return holder.load_saved_view(view)
    known = [name for holder in holders for name in holder.list_saved_views()]
    raise CurateError(f"FiftyOne dataset '{ds.name}' has no saved view '{view}'; saved views: {', '.join(known)}")
