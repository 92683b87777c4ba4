"""The FiftyOne App for a review dataset, opened on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

from curate.errors import CurateError
from curate.review.connection import import_fiftyone, load_review_dataset


def launch_app(name: str, view: str | None = None, port: int = 5151, remote: bool = False, wait: bool = True):
    """Open the App on 127.0.0.1 for the named dataset (optionally a saved view) and block.

    Ctrl-C (or SIGTERM) closes the session, which stops FiftyOne's App server, so no server
    process outlives the command.
    """
    import signal

    fo = import_fiftyone()
    ds = load_review_dataset(fo, name)
    target = ds
    if view:
        if not ds.has_saved_view(view):
            raise CurateError(f"FiftyOne dataset '{name}' has no saved view '{view}'; saved views: {', '.join(ds.list_saved_views())}")
        target = ds.load_saved_view(view)
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
